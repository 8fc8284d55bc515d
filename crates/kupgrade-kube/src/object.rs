//! [`RawObject`]: a Kubernetes object decoded just enough to scan it, from a manifest file or
//! a Helm release's Secret or ConfigMap.

use serde::Deserialize;

/// What a document holds, decoded just enough to scan it (other fields are skipped unparsed).
#[derive(Debug, Default, Deserialize)]
#[serde(expecting = "a Kubernetes object (a map with apiVersion and kind)")]
pub(crate) struct RawObject {
    #[serde(rename = "apiVersion", default)]
    pub(crate) api_version: Option<String>,
    #[serde(default)]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) metadata: Option<RawMeta>,
    #[serde(default)]
    pub(crate) items: Option<Vec<RawObject>>,
    #[serde(rename = "type", default)]
    pub(crate) type_: LenientString,
    #[serde(default)]
    pub(crate) data: RawData,
}

#[derive(Debug, Default, Deserialize)]
#[serde(expecting = "object metadata (a map with name, namespace)")]
pub(crate) struct RawMeta {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(rename = "generateName", default)]
    pub(crate) generate_name: Option<String>,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
}

/// A string field that other kinds may use with any shape: kept when a string, else ignored.
#[derive(Debug, Default)]
pub(crate) struct LenientString(pub(crate) Option<String>);

impl<'de> Deserialize<'de> for LenientString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = LenientString;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("anything")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(Some(v.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(Some(v)))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_none<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(LenientString(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(LenientString(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `release` key of a Secret's or ConfigMap's `data`; other keys, and `data` of any other
/// shape, are skipped.
#[derive(Debug, Default)]
pub(crate) struct RawData {
    pub(crate) release: Option<String>,
}

impl<'de> Deserialize<'de> for RawData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawData;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("anything")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = RawData::default();
                while let Some(key) = a.next_key::<LenientString>()? {
                    let value: LenientString = a.next_value()?;
                    if key.0.as_deref() == Some("release") {
                        out.release = value.0;
                    }
                }
                Ok(out)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(RawData::default())
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> std::result::Result<Self::Value, E> {
                Ok(RawData::default())
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
                Ok(RawData::default())
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
                Ok(RawData::default())
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
                Ok(RawData::default())
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
                Ok(RawData::default())
            }
            fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(RawData::default())
            }
            fn visit_none<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(RawData::default())
            }
        }
        d.deserialize_any(V)
    }
}

impl RawObject {
    pub(crate) fn name(&self) -> String {
        self.metadata
            .as_ref()
            .and_then(|m| m.name.clone().or_else(|| m.generate_name.clone()))
            .unwrap_or_default()
    }
}
