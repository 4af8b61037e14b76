//! The one canonical binary encoding.
//!
//! Everything that is hashed or signed is encoded here, with one bincode configuration:
//! little-endian, fixed-width integers. Decoding untrusted bytes always goes through
//! [`decode`], which enforces a size limit before and during decoding (bincode refuses to
//! allocate past it), requires every byte to be consumed, and requires the bytes to be the
//! canonical encoding of what they decode to (re-encoding reproduces them), so one value
//! has exactly one byte form and one hash. It returns an error for any input; it never panics.

use bincode::config::{Configuration, Fixint, LittleEndian, NoLimit};
use bincode::{Decode, Encode};

/// A transaction in binary form is at most this long.
pub const TX_BYTES_MAX: usize = 64 * 1024;
/// A block (header and body) in binary form is at most this long.
pub const BLOCK_BYTES_MAX: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{len} bytes is over the limit of {limit}")]
    TooLarge { len: usize, limit: usize },
    #[error("malformed encoding: {0}")]
    Malformed(String),
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    #[error("not the canonical encoding of its value")]
    NotCanonical,
}

fn config() -> Configuration<LittleEndian, Fixint, NoLimit> {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
}

/// The canonical bytes of `value`.
pub fn encode<T: Encode>(value: &T) -> Vec<u8> {
    // Most values (state records, keys' parts) are small: encoded on the stack first, they
    // cost one allocation of their exact size instead of a chain of growing ones.
    let mut scratch = [0u8; 512];
    if let Ok(len) = bincode::encode_into_slice(value, &mut scratch, config()) {
        return scratch[..len].to_vec();
    }
    // Encoding into a Vec fails only if an Encode impl itself fails, and ours do not.
    bincode::encode_to_vec(value, config()).expect("canonical encoding into memory cannot fail")
}

/// Appends the canonical bytes of `value` to `out`.
pub fn encode_append<T: Encode>(value: &T, out: &mut Vec<u8>) {
    bincode::encode_into_std_write(value, out, config())
        .expect("canonical encoding into memory cannot fail");
}

/// Appends the canonical bytes of the list `items` to `out` (its length, then each item,
/// exactly as [`encode`] writes a `Vec`), and gives the items' bounds in `out`: item `i`
/// is `out[bounds[i]..bounds[i + 1]]`, so one item can later be read without decoding
/// the others.
pub fn encode_list_with_bounds<T: Encode>(items: &[T], out: &mut Vec<u8>) -> Vec<u32> {
    let at = |out: &Vec<u8>| u32::try_from(out.len()).expect("a record is far below 4 GiB");
    encode_append(&(items.len() as u64), out);
    let mut bounds = Vec::with_capacity(items.len() + 1);
    bounds.push(at(out));
    for item in items {
        encode_append(item, out);
        bounds.push(at(out));
    }
    bounds
}

/// Plain words for a decoding failure (bincode's own display is its debug form).
fn describe(e: &bincode::error::DecodeError) -> String {
    use bincode::error::DecodeError as E;
    match e {
        E::UnexpectedEnd { additional } => {
            format!("the bytes end early: {additional} more needed")
        }
        E::LimitExceeded => format!("a length claims more than {BLOCK_BYTES_MAX} bytes"),
        E::UnexpectedVariant {
            type_name, found, ..
        } => format!("{found} is not a kind of {type_name}"),
        E::Utf8 { .. } => "a text is not UTF-8".into(),
        E::InvalidBooleanValue(b) => format!("{b} is not a boolean (0 or 1)"),
        E::ArrayLengthMismatch { required, found } => {
            format!("a list of {found} where {required} are required")
        }
        E::OutsideUsizeRange(n) => format!("a length of {n} is out of range"),
        E::Other(message) => (*message).to_string(),
        E::OtherString(message) => message.clone(),
        _ => "an invalid value".into(),
    }
}

/// Decode untrusted bytes of at most `limit` bytes (see the module notes).
pub fn decode<T: Decode<()> + Encode>(bytes: &[u8], limit: usize) -> Result<T, CodecError> {
    let value = decode_own(bytes, limit)?;
    if encode(&value) != bytes {
        return Err(CodecError::NotCanonical);
    }
    Ok(value)
}

/// Decodes bytes that this program encoded itself: records of its own state, read back.
/// The same limit and every byte consumed, without the canonical re-encoding of
/// [`decode`], which such bytes pass by construction (they were made by [`encode`]); a
/// corrupted record still fails to decode. Never for bytes from outside.
pub fn decode_own<T: Decode<()>>(bytes: &[u8], limit: usize) -> Result<T, CodecError> {
    if bytes.len() > limit {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }
    // The slice is already bounded by `limit`; bincode additionally refuses, before it
    // allocates, any claimed container size past BLOCK_BYTES_MAX.
    let (value, read): (T, usize) =
        bincode::decode_from_slice(bytes, config().with_limit::<BLOCK_BYTES_MAX>())
            .map_err(|e| CodecError::Malformed(describe(&e)))?;
    if read != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - read));
    }
    Ok(value)
}

/// The leading fields of a canonical encoding, borrowed from `bytes` (strings as `&str`)
/// rather than allocated; what follows them is not read. A struct's encoding is its
/// fields' encodings one after another, so a struct of a record's first fields, in its
/// order, reads them. For bytes this node wrote itself.
pub fn decode_prefix<'a, T: bincode::BorrowDecode<'a, ()>>(
    bytes: &'a [u8],
) -> Result<T, CodecError> {
    bincode::borrow_decode_from_slice(bytes, config().with_limit::<BLOCK_BYTES_MAX>())
        .map(|(value, _)| value)
        .map_err(|e| CodecError::Malformed(describe(&e)))
}

/// The suite's hash (blake3 or SM3) of the canonical bytes of `value`.
pub fn hash<T: Encode>(suite: crate::crypto::Suite, value: &T) -> [u8; 32] {
    suite.hash(&encode(value))
}

/// The text form of a 32-byte hash in JSON: 64 lowercase hex digits (a field attribute,
/// `#[serde(with = "crate::codec::hex32")]`; the canonical bytes are unchanged).
pub mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(hash: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(hash))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(&text).map_err(serde::de::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("a hash is 64 hex digits"))
    }
}
