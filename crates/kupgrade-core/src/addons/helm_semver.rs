//! Helm's `kubeVersion` constraints, evaluated as Helm evaluates them.
//!
//! Helm 3 checks a chart's `kubeVersion` at `helm install` and `helm upgrade` against the API
//! server's `gitVersion` (`v1.31.10-eks-931bdca` on EKS, `v1.31.6-gke.1020000` on GKE,
//! `v1.31.7` on AKS) with the constraint rules of the Masterminds `semver` v3 library. Those
//! rules differ from Cargo's in ways that decide whether a cluster upgrade breaks the next
//! `helm upgrade`:
//!
//! - `,` or whitespace is AND, `||` is OR, `A - B` is `>= A, <= B`;
//! - `1.2`, `1.2.x`, `1.x`, `*` are wildcards (`=1.2` means `~1.2`);
//! - a version with a pre-release (everything after `-`, which is where EKS and GKE put their
//!   suffix) satisfies a comparison only when the comparison's own version has a pre-release
//!   too. So `>=1.21.0` refuses `1.31.10-eks-931bdca`, and charts write `>=1.21.0-0`.

use std::cmp::Ordering;

/// A version as Masterminds `semver` parses it (a leading `v`, missing minor or patch allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmVersion {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
}

impl HelmVersion {
    /// `v1.31.10-eks-931bdca`, `1.31`, `1.31.0+meta`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let text = text.split_once('+').map_or(text, |(v, _)| v);
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) if !pre.is_empty() && pre.split('.').all(valid_identifier) => (core, pre),
            Some(_) => return None,
            None => (text, ""),
        };
        let mut parts = core.split('.');
        let number = |p: Option<&str>| -> Option<u64> {
            match p {
                None => Some(0),
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok(),
                Some(_) => None,
            }
        };
        let major = parts.next().and_then(|p| number(Some(p)))?;
        let minor = number(parts.next())?;
        let patch = number(parts.next())?;
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            major,
            minor,
            patch,
            pre: pre.to_string(),
        })
    }

    /// The version a cluster at `major.minor.patch` reports, with the provider's `gitVersion`
    /// suffix (empty for none).
    pub fn of_cluster(major: u32, minor: u32, patch: u32, suffix: &str) -> Self {
        Self {
            major: major.into(),
            minor: minor.into(),
            patch: patch.into(),
            pre: suffix.to_string(),
        }
    }
}

impl std::fmt::Display for HelmVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        Ok(())
    }
}

fn valid_identifier(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl Ord for HelmVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| compare_prerelease(&self.pre, &other.pre))
    }
}

impl PartialOrd for HelmVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// SemVer 2.0 precedence of pre-releases: none ranks above any; numeric identifiers rank
/// below alphanumeric ones and compare as numbers; a shorter list ranks below a longer one
/// that starts with it.
fn compare_prerelease(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let (mut xs, mut ys) = (a.split('.'), b.split('.'));
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

#[derive(Debug, Clone)]
struct Comparison {
    op: Op,
    version: HelmVersion,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

/// A parsed `kubeVersion` constraint: OR of ANDs of comparisons.
#[derive(Debug, Clone)]
pub struct HelmConstraint {
    text: String,
    any_of: Vec<Vec<Comparison>>,
}

impl HelmConstraint {
    /// Parses a constraint; the error says why it is not one Helm accepts.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut any_of = Vec::new();
        if text.trim().is_empty() {
            // Helm skips the check for a chart without `kubeVersion`.
            any_of.push(vec![comparison("", "*").expect("`*` parses")]);
            return Ok(Self {
                text: String::new(),
                any_of,
            });
        }
        for group in text.split("||") {
            let comparisons = parse_group(group)
                .ok_or_else(|| format!("`{}` is not a constraint Helm accepts", group.trim()))?;
            any_of.push(comparisons);
        }
        Ok(Self {
            text: text.trim().to_string(),
            any_of,
        })
    }

    /// Whether `version` satisfies the constraint, as Helm's check says.
    pub fn matches(&self, version: &HelmVersion) -> bool {
        self.any_of
            .iter()
            .any(|all| all.iter().all(|c| c.matches(version)))
    }
}

impl std::fmt::Display for HelmConstraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// One AND group: comparisons separated by commas or whitespace, hyphen ranges rewritten.
fn parse_group(group: &str) -> Option<Vec<Comparison>> {
    let tokens = tokenize(group)?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (op, version) = &tokens[i];
        // `A - B`: an operator-less version, a lone `-`, an operator-less version.
        if op.is_empty() && tokens.get(i + 1).is_some_and(|(o, v)| o.is_empty() && v == "-") {
            let (upper_op, upper) = tokens.get(i + 2)?;
            if !upper_op.is_empty() {
                return None;
            }
            out.push(comparison(">=", version)?);
            out.push(comparison("<=", upper)?);
            i += 3;
            continue;
        }
        out.push(comparison(op, version)?);
        i += 1;
    }
    // `>=1.0 ||` has an empty group, which Helm refuses.
    (!out.is_empty()).then_some(out)
}

/// `(operator, version)` pairs; a lone `-` is returned as a version `-` with no operator.
/// Comparisons are separated by whitespace or one comma, as Masterminds' validation regex
/// requires: `>=1.20.0-0<1.30.0-0`, a leading or trailing comma, or `,,` are refused.
fn tokenize(group: &str) -> Option<Vec<(String, String)>> {
    let chars: Vec<char> = group.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let mut comma_pending = false;
    loop {
        let mut separated = out.is_empty();
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
            if chars[i] == ',' {
                if comma_pending || out.is_empty() {
                    return None;
                }
                comma_pending = true;
            }
            separated = true;
            i += 1;
        }
        if i == chars.len() {
            return (!comma_pending).then_some(out);
        }
        if !separated {
            return None;
        }
        comma_pending = false;
        let start = i;
        while i < chars.len() && "=!<>~^".contains(chars[i]) {
            i += 1;
        }
        let op: String = chars[start..i].iter().collect();
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_alphanumeric() || ".-+*".contains(chars[i])) {
            i += 1;
        }
        let version: String = chars[start..i].iter().collect();
        if version.is_empty() {
            return None;
        }
        out.push((op, version));
    }
}

fn is_x(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

fn comparison(op: &str, text: &str) -> Option<Comparison> {
    let op = match op {
        "" | "=" => Op::TildeOrEqual,
        "!=" => Op::NotEqual,
        ">" => Op::Greater,
        "<" => Op::Less,
        ">=" | "=>" => Op::GreaterEqual,
        "<=" | "=<" => Op::LessEqual,
        "~" | "~>" => Op::Tilde,
        "^" => Op::Caret,
        _ => return None,
    };
    let text = text.strip_prefix('v').unwrap_or(text);
    let without_meta = text.split_once('+').map_or(text, |(v, _)| v);
    let (core, pre) = match without_meta.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (without_meta, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let part = |n: usize| parts.get(n).copied().unwrap_or("");
    let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
    let numbers = if is_x(part(0)) {
        dirty = true;
        "0.0.0".to_string()
    } else if part(1).is_empty() || is_x(part(1)) {
        dirty = true;
        minor_dirty = true;
        format!("{}.0.0", part(0))
    } else if part(2).is_empty() || is_x(part(2)) {
        dirty = true;
        patch_dirty = true;
        format!("{}.{}.0", part(0), part(1))
    } else {
        core.to_string()
    };
    let full = match pre {
        Some(pre) => format!("{numbers}-{pre}"),
        None => numbers,
    };
    Some(Comparison {
        op,
        version: HelmVersion::parse(&full)?,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

impl Comparison {
    fn matches(&self, v: &HelmVersion) -> bool {
        let c = &self.version;
        // A pre-release version only satisfies comparisons that name a pre-release.
        if !v.pre.is_empty() && c.pre.is_empty() {
            return false;
        }
        match self.op {
            Op::TildeOrEqual if self.dirty => self.tilde(v),
            Op::TildeOrEqual => v.cmp(c) == Ordering::Equal,
            Op::Tilde => self.tilde(v),
            Op::NotEqual => self.not_equal(v),
            Op::Greater if !self.dirty => v > c,
            Op::Greater => {
                if v.major != c.major {
                    v.major > c.major
                } else if self.minor_dirty {
                    false
                } else if self.patch_dirty {
                    v.minor > c.minor
                } else {
                    v > c
                }
            }
            Op::Less => v < c,
            Op::GreaterEqual => v >= c,
            Op::LessEqual if !self.dirty => v <= c,
            Op::LessEqual => {
                !(v.major > c.major || (v.major == c.major && v.minor > c.minor && !self.minor_dirty))
            }
            Op::Caret => self.caret(v),
        }
    }

    fn tilde(&self, v: &HelmVersion) -> bool {
        let c = &self.version;
        if v < c {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }

    fn not_equal(&self, v: &HelmVersion) -> bool {
        let c = &self.version;
        if self.dirty {
            if c.major != v.major {
                return true;
            }
            if self.minor_dirty {
                return false;
            }
            if c.minor != v.minor {
                return true;
            }
            if self.patch_dirty {
                return compare_prerelease(&v.pre, &c.pre) != Ordering::Equal
                    && !(v.pre.is_empty() && c.pre.is_empty());
            }
            if c.patch != v.patch {
                return true;
            }
        }
        v.cmp(c) != Ordering::Equal
    }

    fn caret(&self, v: &HelmVersion) -> bool {
        let c = &self.version;
        if v < c {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        c.patch == v.patch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(constraint: &str, version: &str) -> bool {
        HelmConstraint::parse(constraint)
            .unwrap()
            .matches(&HelmVersion::parse(version).unwrap())
    }

    #[test]
    fn provider_suffixes_are_pre_releases() {
        // The trap charts fall into: a plain floor refuses EKS's and GKE's gitVersions.
        assert!(!ok(">=1.21.0", "v1.31.10-eks-931bdca"));
        assert!(!ok(">=1.21.0", "v1.31.6-gke.1020000"));
        assert!(ok(">=1.21.0", "v1.31.7"));
        assert!(ok(">=1.21.0-0", "v1.31.10-eks-931bdca"));
        assert!(ok(">= 1.22.0-0", "v1.33.1-gke.100"));
    }

    #[test]
    fn an_upper_bound_with_dash_zero_excludes_the_whole_minor() {
        assert!(!ok("<1.33.0-0", "v1.33.0-eks-0000000"));
        assert!(!ok("<1.33.0-0", "v1.33.0"));
        assert!(ok("<1.33.0-0", "v1.32.9-eks-abc"));
        assert!(ok("<1.33.0-0", "v1.32.9"));
    }

    #[test]
    fn and_or_ranges_and_wildcards() {
        assert!(ok(">=1.30.0-0 <1.34.0-0", "1.33.2-gke.1"));
        assert!(!ok(">=1.30.0-0, <1.34.0-0", "1.34.0"));
        assert!(ok("<1.20.0 || >=1.30.0", "1.31.0"));
        assert!(ok("1.28 - 1.31", "1.31.0"));
        assert!(!ok("1.28 - 1.31", "1.32.0"));
        assert!(ok("1.31.x", "1.31.9"));
        assert!(ok("~1.31", "1.31.9"));
        assert!(!ok("~1.31", "1.32.0"));
        assert!(ok("^1.20", "1.35.0"));
        assert!(ok("*", "1.35.0"));
        assert!(ok("", "1.35.0"));
        assert!(ok(">1.31", "1.32.0"));
        assert!(!ok(">1.31", "1.31.5"));
        assert!(ok("<=1.31", "1.31.5"));
        assert!(!ok("<=1.31", "1.32.0"));
        assert!(ok("!=1.31.0", "1.31.1"));
    }

    #[test]
    fn pre_release_precedence() {
        let v = |s| HelmVersion::parse(s).unwrap();
        assert!(v("1.33.0-0") < v("1.33.0-eks-1"));
        assert!(v("1.33.0-eks-1") < v("1.33.0"));
        assert!(v("1.33.0-gke.2") < v("1.33.0-gke.10"));
    }

    #[test]
    fn malformed_constraints_are_refused() {
        assert!(HelmConstraint::parse(">= banana").is_err());
        assert!(HelmConstraint::parse(">=1.2.3.4").is_err());
        assert!(HelmConstraint::parse("=~1.2").is_err());
        assert!(HelmConstraint::parse(">=1.20.0-0<1.30.0-0").is_err());
        assert!(HelmConstraint::parse(">=1.20,").is_err());
        assert!(HelmConstraint::parse(">=1.0 ||").is_err());
        assert!(HelmConstraint::parse(",>=1.0").is_err());
        assert!(HelmConstraint::parse(">=1.0,,<2").is_err());
        assert!(HelmConstraint::parse(">=1.0, <2 >1.1").is_ok());
    }
}
