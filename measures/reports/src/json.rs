//! JSON documents read as a stream into typed structs, with errors that
//! say where.

use std::io::Read;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::ReportError;

/// Deserialize `T` from `input` (a stream: memory follows `T`, not the
/// document). Errors name the line, column and JSON path.
pub fn from_json<T: DeserializeOwned>(input: impl Read) -> Result<T, ReportError> {
    // Large reads: each one is a host call inside the sandbox.
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(256 << 10, input));
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = if path == "." || path.is_empty() {
            String::new()
        } else {
            format!(" at {path}")
        };
        ReportError(format!("{inner}{at}"))
    })?;
    de.end()
        .map_err(|e| ReportError(format!("{e} (after the document)")))?;
    Ok(value)
}

/// `deserialize_with` of a field that may be `null`: read as its default.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `deserialize_with` of a field that is there, possibly `null` (read as
/// its default); with `#[serde(default)]`, an absent field is `None`.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    Ok(Some(nullable(d)?))
}

/// What a format's top-level object is, for the message that refuses
/// anything else.
pub(crate) trait TopLevel {
    /// "a Grype JSON report (an object with \"matches\")".
    const EXPECTING: &'static str;
    /// Why a top-level array is refused, when the format had one once.
    const ARRAY: Option<&'static str> = None;
}

/// A document whose top level must be a JSON object: a string, a number or
/// an array is refused with [`TopLevel::EXPECTING`] (or [`TopLevel::ARRAY`]).
pub(crate) struct Object<T>(pub T);

impl<'de, T: Deserialize<'de> + TopLevel> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, SeqAccess, Visitor, value::MapAccessDeserializer};
        struct Expect<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + TopLevel> Visitor<'de> for Expect<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(T::EXPECTING)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
                Err(match T::ARRAY {
                    Some(why) => A::Error::custom(why),
                    None => A::Error::invalid_type(serde::de::Unexpected::Seq, &self),
                })
            }
        }
        deserializer
            .deserialize_any(Expect(std::marker::PhantomData))
            .map(Object)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        items: Vec<Item>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Item {
        n: u32,
    }

    #[test]
    fn errors_say_where() {
        let e = from_json::<Doc>(&b"{\"items\": [{\"n\": 1}, {\"n\": \"x\"}]}"[..]).unwrap_err();
        assert!(e.0.contains("items[1].n"), "{e}");
        assert!(e.0.contains("line 1"), "{e}");
        let e = from_json::<Doc>(&b"{\"items\": [\n{\"n\": 1},"[..]).unwrap_err();
        assert!(e.0.contains("line 2"), "{e}");
        let e = from_json::<Doc>(&b"{\"items\": []} trailing"[..]).unwrap_err();
        assert!(e.0.contains("after the document"), "{e}");
    }
}
