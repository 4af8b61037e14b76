//! The OpenAPI schemas of the vocabulary's own text and number forms: the types whose
//! serde form is a string or a number checked on the way in (`Id`, `Date`, keys, hashes),
//! so that the API's description says what each accepts, as their parsers do.

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::block::BlockId;
use crate::crypto::{PublicKey, Signature};
use crate::money::Fen;
use crate::tx::TxId;
use crate::{Date, Id, Text};

/// A string of `pattern`, between `min` and `max` bytes long where given.
fn text(
    description: &str,
    pattern: Option<&str>,
    min: Option<usize>,
    max: Option<usize>,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(pattern)
        .min_length(min)
        .max_length(max)
        .into()
}

/// Lowercase hex of 32 bytes.
const HEX32: &str = "^[0-9a-f]{64}$";

macro_rules! schema {
    ($type:ty, $schema:expr) => {
        impl PartialSchema for $type {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }
        impl ToSchema for $type {}
    };
}

schema!(
    Id,
    text(
        "an identifier: 1 to 128 bytes of UTF-8 with no control characters",
        None,
        Some(1),
        Some(Id::LEN_MAX),
    )
);
schema!(
    Text,
    text(
        "free text: at most 512 bytes of UTF-8",
        None,
        None,
        Some(Text::LEN_MAX)
    )
);
schema!(
    Date,
    text(
        "a calendar date, YYYY-MM-DD (UTC+8)",
        Some("^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
        None,
        None,
    )
);
schema!(
    TxId,
    text("a transaction id: its hash, hex", Some(HEX32), None, None)
);
schema!(
    BlockId,
    text(
        "a block id: its header's hash, hex",
        Some(HEX32),
        None,
        None
    )
);
schema!(
    PublicKey,
    text(
        "a public key: `ed25519:` and 32 bytes hex, or `sm2:` and the 65-byte uncompressed \
         SEC1 point hex",
        Some("^(ed25519:[0-9a-f]{64}|sm2:04[0-9a-f]{128})$"),
        None,
        None,
    )
);
schema!(
    Signature,
    text(
        "a signature, 64 bytes hex: ed25519's R‖s or SM2's r‖s",
        Some("^[0-9a-f]{128}$"),
        None,
        None,
    )
);
schema!(
    Fen,
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .description(Some("an amount in fen (0.01 yuan)"))
        .into()
);
