//! Vocabulary shared by every callvault crate: identifiers, domain records, the access-control
//! vocabulary, and wrappers that keep personal data and secrets out of logs.
//!
//! Architecture invariant: this crate does no I/O and holds no key material.

/// The OpenAPI schema of an enum of wire names: a string, one of the names. By hand: the derive
/// does not see a `rename` whose literal came through a macro, and documented the Rust variant
/// names instead of the names on the wire.
#[macro_export]
macro_rules! wire_names_schema {
    ($name:ident, [$($text:literal),*]) => {
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text,)*]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
}

/// An enum of stable wire names with `ALL`, `as_str`, `parse` and `Display`.
macro_rules! name_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)*
        }

        crate::wire_names_schema!($name, [$($text),*]);

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            /// The stable name.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
            /// Parses the stable name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod access;
pub mod dial;
pub mod ids;
pub mod personal;
pub mod recording;
pub mod records;
pub mod redact;
pub mod reporting;
pub mod vault;

pub use ids::*;
pub use redact::{Personal, SecretString};
