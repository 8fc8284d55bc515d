//! Kubernetes versions as the providers spell them.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// A Kubernetes version: `1.30`, `v1.30.4`, `1.30.4-eks-a737599`, `1.30.5-gke.1014001`, `1.30.6`.
///
/// Ordering and equality look at major, minor and patch only (a missing patch counts as 0);
/// the provider suffix is kept for display.
#[derive(Debug, Clone)]
pub struct KubeVersion {
    major: u32,
    minor: u32,
    patch: Option<u32>,
    suffix: Option<String>,
}

impl KubeVersion {
    /// A `major.minor` version with no patch.
    pub const fn new(major: u32, minor: u32) -> Self {
        Self {
            major,
            minor,
            patch: None,
            suffix: None,
        }
    }

    /// A `major.minor.patch` version.
    pub const fn with_patch(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch: Some(patch),
            suffix: None,
        }
    }

    /// Parses any of the spellings above; the error quotes the input.
    pub fn parse(input: &str) -> Result<Self> {
        let invalid = |why: &str| Error::InvalidVersion {
            input: input.to_string(),
            reason: why.to_string(),
        };
        let trimmed = input.trim();
        let body = trimmed.strip_prefix(['v', 'V']).unwrap_or(trimmed);
        if body.is_empty() {
            return Err(invalid("expected MAJOR.MINOR such as 1.30"));
        }
        let (numbers, suffix) = match body.find(['-', '+']) {
            Some(at) => (&body[..at], Some(&body[at + 1..])),
            None => (body, None),
        };
        if suffix.is_some_and(|s| s.is_empty()) {
            return Err(invalid("empty suffix after '-'"));
        }
        let parts: Vec<&str> = numbers.split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(invalid(
                "expected MAJOR.MINOR or MAJOR.MINOR.PATCH such as 1.30 or 1.30.4",
            ));
        }
        let number = |s: &str, what: &str| -> Result<u32> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 6 {
                return Err(invalid(&format!("{what} '{s}' is not a number")));
            }
            s.parse::<u32>()
                .map_err(|_| invalid(&format!("{what} '{s}' is not a number")))
        };
        let major = number(parts[0], "major")?;
        let minor = number(parts[1], "minor")?;
        let patch = parts.get(2).map(|p| number(p, "patch")).transpose()?;
        if major != 1 {
            return Err(invalid("only Kubernetes 1.x exists"));
        }
        Ok(Self {
            major,
            minor,
            patch,
            suffix: suffix.map(str::to_string),
        })
    }

    /// The major version (always 1 today).
    pub fn major(&self) -> u32 {
        self.major
    }

    /// The minor version: 30 in `1.30.4`.
    pub fn minor(&self) -> u32 {
        self.minor
    }

    /// The patch version, when given.
    pub fn patch(&self) -> Option<u32> {
        self.patch
    }

    /// The provider suffix: `eks-a737599` in `1.30.4-eks-a737599`.
    pub fn suffix(&self) -> Option<&str> {
        self.suffix.as_deref()
    }

    /// This version cut to `major.minor`.
    pub fn minor_version(&self) -> Self {
        Self::new(self.major, self.minor)
    }

    /// The same minor line: `1.30.4-eks-x` and `1.30` are on one line.
    pub fn same_minor(&self, other: &Self) -> bool {
        self.major == other.major && self.minor == other.minor
    }

    /// The next minor version (`1.30` -> `1.31`).
    pub fn next_minor(&self) -> Self {
        Self::new(self.major, self.minor + 1)
    }

    /// How many minors `self` is ahead of `older` (negative when behind).
    pub fn minors_ahead_of(&self, older: &Self) -> i64 {
        i64::from(self.minor) - i64::from(older.minor)
    }

    fn key(&self) -> (u32, u32, u32) {
        (self.major, self.minor, self.patch.unwrap_or(0))
    }
}

impl PartialEq for KubeVersion {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for KubeVersion {}

impl std::hash::Hash for KubeVersion {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialOrd for KubeVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KubeVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(patch) = self.patch {
            write!(f, ".{patch}")?;
        }
        if let Some(suffix) = &self.suffix {
            write!(f, "-{suffix}")?;
        }
        Ok(())
    }
}

impl FromStr for KubeVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl Serialize for KubeVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KubeVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(f64),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Text(text) => text,
            // YAML users write `control_plane: 1.30`, which arrives as the float 1.3.
            Raw::Number(n) => {
                return Err(serde::de::Error::custom(format!(
                    "a version must be quoted (\"1.30\"): an unquoted version is read as the number {n}"
                )));
            }
        };
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_provider_spelling() {
        let cases = [
            ("1.30", (1, 30, None, None)),
            ("v1.30.4", (1, 30, Some(4), None)),
            ("1.30.4-eks-a737599", (1, 30, Some(4), Some("eks-a737599"))),
            ("1.30.5-gke.1014001", (1, 30, Some(5), Some("gke.1014001"))),
            ("1.30.6", (1, 30, Some(6), None)),
        ];
        for (text, (major, minor, patch, suffix)) in cases {
            let v = KubeVersion::parse(text).unwrap();
            assert_eq!(
                (v.major(), v.minor(), v.patch(), v.suffix()),
                (major, minor, patch, suffix),
                "{text}"
            );
            assert_eq!(v.to_string(), text.trim_start_matches('v'));
        }
    }

    #[test]
    fn orders_by_major_minor_patch_ignoring_suffix() {
        let v = |s: &str| KubeVersion::parse(s).unwrap();
        assert!(v("1.30") < v("1.30.1"));
        assert!(v("1.30.9") < v("1.31"));
        assert!(v("1.9") < v("1.10"));
        assert_eq!(v("1.30.5-gke.1014001"), v("1.30.5"));
        assert!(v("1.30.4-eks-a737599") < v("1.30.5-gke.1"));
    }

    #[test]
    fn rejects_garbage_and_quotes_the_input() {
        for bad in ["", "1", "banana", "1.x", "1.30.4.5", "2.1", "1.30-", "v", "1..3"] {
            let err = KubeVersion::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("'{bad}'")), "{err}");
        }
    }

    #[test]
    fn serde_round_trip_and_unquoted_yaml_hint() {
        let v: KubeVersion = serde_json::from_str("\"1.31.2\"").unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"1.31.2\"");
        let err = serde_json::from_str::<KubeVersion>("1.3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be quoted"), "{err}");
    }
}
