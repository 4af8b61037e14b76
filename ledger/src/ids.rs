//! Validated identifiers.
//!
//! Every record of the rulebook (organisation, programme, policy, loan, claim, fund,
//! enterprise, document hash) is named by an [`Id`]: a non-empty string of at most
//! [`Id::LEN_MAX`] bytes with no control characters. The check runs in every constructor
//! and in every decoder, so an `Id` in memory is always valid.

use std::fmt;

use bincode::de::{Decode, Decoder};
use bincode::enc::{Encode, Encoder};
use bincode::error::{DecodeError, EncodeError};
use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Id(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("an id must not be empty")]
    Empty,
    #[error("an id is at most {max} bytes, this one has {len}", max = Id::LEN_MAX)]
    TooLong { len: usize },
    #[error("an id must not contain control characters")]
    ControlCharacter,
}

impl Id {
    pub const LEN_MAX: usize = 128;

    pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        Self::check(&value)?;
        Ok(Id(value))
    }

    fn check(value: &str) -> Result<(), IdError> {
        if value.is_empty() {
            return Err(IdError::Empty);
        }
        if value.len() > Self::LEN_MAX {
            return Err(IdError::TooLong { len: value.len() });
        }
        // Control characters (Unicode Cc) are U+0000–U+001F and U+007F–U+009F: an ASCII
        // id is checked byte by byte, anything else char by char.
        let ascii_clean = value.bytes().all(|b| (0x20..0x7f).contains(&b));
        if !ascii_clean && value.chars().any(char::is_control) {
            return Err(IdError::ControlCharacter);
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Id {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Id::new(value)
    }
}

impl TryFrom<&str> for Id {
    type Error = IdError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Id::new(value)
    }
}

impl From<Id> for String {
    fn from(id: Id) -> String {
        id.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl Encode for Id {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        self.0.encode(encoder)
    }
}

impl<Context> Decode<Context> for Id {
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let value = String::decode(decoder)?;
        Id::new(value).map_err(|e| DecodeError::OtherString(e.to_string()))
    }
}
bincode::impl_borrow_decode!(Id);

/// Free text carried by a transaction (a payment reference, a filing reference, a reason).
/// It may be empty; it is bounded like everything else.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl Text {
    pub const LEN_MAX: usize = 512;

    pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        if value.len() > Self::LEN_MAX {
            return Err(IdError::TooLong { len: value.len() });
        }
        Ok(Text(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Text {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Text::new(value)
    }
}

impl From<Text> for String {
    fn from(text: Text) -> String {
        text.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl Encode for Text {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        self.0.encode(encoder)
    }
}

impl<Context> Decode<Context> for Text {
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let value = String::decode(decoder)?;
        Text::new(value).map_err(|e| DecodeError::OtherString(e.to_string()))
    }
}
bincode::impl_borrow_decode!(Text);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_long_and_control() {
        assert_eq!(Id::new(""), Err(IdError::Empty));
        assert!(matches!(
            Id::new("x".repeat(129)),
            Err(IdError::TooLong { len: 129 })
        ));
        assert_eq!(Id::new("a\nb"), Err(IdError::ControlCharacter));
        assert_eq!(Id::new("prog-c").unwrap().as_str(), "prog-c");
        assert!(Text::new("").is_ok());
        assert!(Text::new("x".repeat(513)).is_err());
    }
}
