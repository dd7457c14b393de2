//! serde helpers for the config file: values read with the command line's own parsers and
//! short messages (`invalid duration "10q"`, `expected true or false, found string`), and
//! [`from_table`], which deserializes a derived struct from a TOML table and names the key
//! an error is about.

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;

use clap::ValueEnum;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::{Table, Value};

use catalog::retention::MinFree;

use crate::options::values::{self, Bound, Invalid};

/// An error about one key of a table (empty `key`: about the table as a whole).
#[derive(Debug, PartialEq)]
pub struct KeyError {
    /// The key.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

/// Deserializes `T` (a struct with named fields) from `table`, key by key so that an
/// error names its key: a key that is not one of `T`'s fields is an `unknown key`.
pub fn from_table<T: DeserializeOwned>(table: Table) -> Result<T, KeyError> {
    let fields = struct_fields::<T>();
    for (key, value) in &table {
        if !fields.contains(&key.as_str()) {
            return Err(KeyError {
                key: key.clone(),
                message: "unknown key".to_owned(),
            });
        }
        let alone = Table::from_iter([(key.clone(), value.clone())]);
        if let Err(e) = T::deserialize(Value::Table(alone)) {
            return Err(KeyError {
                key: key.clone(),
                message: e.message().trim().to_owned(),
            });
        }
    }
    T::deserialize(Value::Table(table)).map_err(|e| KeyError {
        key: String::new(),
        message: e.message().trim().to_owned(),
    })
}

/// The field names of the struct `T`, as serde's derive hands them to
/// `deserialize_struct`.
pub fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Fields<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Fields<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("fields taken"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Fields(&mut fields));
    fields
}

/// A visitor of one TOML value that must be a string, turned into `T` by `parse`;
/// anything else is `expected {what}, found {type}`.
struct FromStr<T, F> {
    what: &'static str,
    parse: F,
    _t: PhantomData<T>,
}

impl<T, F: FnOnce(&str) -> Result<T, String>> FromStr<T, F> {
    fn new(what: &'static str, parse: F) -> Self {
        Self {
            what,
            parse,
            _t: PhantomData,
        }
    }
}

/// `expected {what}, found {found}`.
fn wrong_type<E: de::Error>(what: &str, found: &str) -> E {
    E::custom(format!("expected {what}, found {found}"))
}

/// What a visitor expects, for `expected {what}, found {type}`.
trait Expects {
    fn what(&self) -> &'static str;
}

/// The visitor methods of the TOML value types (integer, float, array, table; a datetime
/// is a table to serde) that a visitor does not accept.
macro_rules! reject_other_types {
    () => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(wrong_type(Expects::what(&self), "integer"))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(wrong_type(Expects::what(&self), "float"))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(wrong_type(Expects::what(&self), "array"))
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(wrong_type(Expects::what(&self), "table"))
        }
    };
}

impl<T, F> Expects for FromStr<T, F> {
    fn what(&self) -> &'static str {
        self.what
    }
}

impl<'de, T, F: FnOnce(&str) -> Result<T, String>> Visitor<'de> for FromStr<T, F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
        Err(wrong_type(self.what, "boolean"))
    }
    reject_other_types!();
}

/// A string.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(FromStr::new("a string", |s| Ok(s.to_owned())))
        .map(Some)
}

/// A path.
pub fn path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    string(d).map(|s| s.map(PathBuf::from))
}

/// The name of an environment variable.
pub fn env_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(FromStr::new("a string", |name| {
        if name.is_empty() || name.contains('=') {
            return Err(format!("invalid environment variable name {name:?}"));
        }
        Ok(name.to_owned())
    }))
    .map(Some)
}

/// A duration string read with `parse` (one of [`values`]'
/// parsers): `invalid duration "10q"`, or with the reason when it is out of range.
pub fn duration_with<'de, D: Deserializer<'de>>(
    d: D,
    parse: fn(&str) -> Result<std::time::Duration, Invalid>,
) -> Result<Option<humantime::Duration>, D::Error> {
    d.deserialize_any(FromStr::new("a duration such as \"10s\"", |text| {
        parse(text).map(Into::into).map_err(|e| match e {
            Invalid::Syntax(_) => format!("invalid duration {text:?}"),
            Invalid::Range(why) => format!("invalid duration {text:?}: {why}"),
        })
    }))
    .map(Some)
}

/// A positive duration.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<humantime::Duration>, D::Error> {
    duration_with(d, crate::options::values::positive_duration)
}

/// A fragment duration (from 1 ms to about 49 days).
pub fn fragment_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<humantime::Duration>, D::Error> {
    duration_with(d, crate::options::values::fragment_duration)
}

/// `"none"` or a positive duration.
pub fn duration_bound<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Bound<humantime::Duration>>, D::Error> {
    d.deserialize_any(FromStr::new(
        "a duration such as \"10m\", or \"none\"",
        |text| {
            values::duration_bound(text).map_err(|e| match e {
                Invalid::Syntax(_) => format!("invalid duration {text:?}"),
                Invalid::Range(why) => format!("invalid duration {text:?}: {why}"),
            })
        },
    ))
    .map(Some)
}

/// `"none"` or a size such as `"2GB"`.
pub fn size_bound<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Bound<bytesize::ByteSize>>, D::Error> {
    d.deserialize_any(FromStr::new(
        "a size such as \"2GB\", or \"none\"",
        |text| {
            values::size_bound(text).map_err(|e| match e {
                Invalid::Syntax(_) => format!("invalid size {text:?}"),
                Invalid::Range(why) => format!("invalid size {text:?}: {why}"),
            })
        },
    ))
    .map(Some)
}

/// A size greater than zero: `500GB`, `160KB`, `1.5GiB`.
fn positive_size(text: &str) -> Result<bytesize::ByteSize, String> {
    match text.trim().parse::<bytesize::ByteSize>() {
        Ok(s) if s.as_u64() > 0 => Ok(s),
        Ok(_) => Err(format!("invalid size {text:?}: must be greater than zero")),
        Err(_) => Err(format!("invalid size {text:?}")),
    }
}

/// A positive size such as `"500GB"`.
pub fn any_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bytesize::ByteSize>, D::Error> {
    d.deserialize_any(FromStr::new("a size such as \"500GB\"", positive_size))
        .map(Some)
}

/// A minimum of free space: a size (`"10GB"`) or a share of the file system (`"5%"`,
/// above 0 and below 100).
pub fn min_free<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MinFree>, D::Error> {
    d.deserialize_any(FromStr::new(
        "a size such as \"10GB\" or a share such as \"5%\"",
        |text| {
            if let Some(p) = text.trim().strip_suffix('%') {
                let p: f64 = p
                    .trim()
                    .parse()
                    .map_err(|_| format!("invalid share {text:?}"))?;
                if !(p > 0.0 && p < 100.0) {
                    return Err(format!(
                        "invalid share {text:?}: must be above 0% and below 100%"
                    ));
                }
                return Ok(MinFree::Percent(p));
            }
            positive_size(text).map(|s| MinFree::Bytes(s.as_u64()))
        },
    ))
    .map(Some)
}

/// One of a command-line option's values (`"tcp"`, `"fmp4"`, ...).
pub fn choice<'de, D: Deserializer<'de>, T: ValueEnum>(d: D) -> Result<Option<T>, D::Error> {
    d.deserialize_any(FromStr::new("a string", |text| {
        T::from_str(text, false).map_err(|_| {
            let names: Vec<String> = T::value_variants()
                .iter()
                .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_owned()))
                .collect();
            format!(
                "invalid value {text:?} (expected one of: {})",
                names.join(", ")
            )
        })
    }))
    .map(Some)
}

/// `true` or `false`.
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct Bool;
    impl Expects for Bool {
        fn what(&self) -> &'static str {
            "true or false"
        }
    }
    impl<'de> Visitor<'de> for Bool {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
            Err(wrong_type("true or false", "string"))
        }
        reject_other_types!();
    }
    d.deserialize_any(Bool).map(Some)
}

/// A count from 0 to `u32::MAX`.
pub fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    struct Count;
    impl<'de> Visitor<'de> for Count {
        type Value = u32;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<u32, E> {
            u32::try_from(n)
                .map_err(|_| E::custom(format!("must be between 0 and {}, not {n}", u32::MAX)))
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<u32, E> {
            u32::try_from(n)
                .map_err(|_| E::custom(format!("must be between 0 and {}, not {n}", u32::MAX)))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<u32, E> {
            Err(wrong_type("an integer", "string"))
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<u32, E> {
            Err(wrong_type("an integer", "boolean"))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<u32, E> {
            Err(wrong_type("an integer", "float"))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<u32, A::Error> {
            Err(wrong_type("an integer", "array"))
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<u32, A::Error> {
            Err(wrong_type("an integer", "table"))
        }
    }
    d.deserialize_any(Count).map(Some)
}
