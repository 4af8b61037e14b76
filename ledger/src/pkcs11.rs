//! Keys in a cryptographic module, reached through PKCS#11 (cryptoki), named by RFC 7512
//! `pkcs11:` URIs where a key file's path goes.
//!
//! The secret never enters xinbao's memory: the module signs `domain ‖ message` and gives
//! back the signature, which is checked against the key's public half before it is used
//! (a module that signs wrongly is an error, not a bad transaction).
//!
//! A URI names the module, the token and the key:
//!
//! ```text
//! pkcs11:token=xinbao;object=bank-a-alice?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/pin
//! ```
//!
//! - path attributes: `token` (the token's label), `object` (the key's label), `id` (the
//!   key's `CKA_ID`, percent-encoded), `slot-id`;
//! - query attributes: `module-path` (else `XINBAO_PKCS11_MODULE`), the user PIN as
//!   `pin-value` or `pin-source` (a file holding it; else `XINBAO_PKCS11_PIN`), and
//!   `x-mechanism` (below).
//!
//! **Algorithms.** An ed25519 key (`CKK_EC_EDWARDS`) signs with the standard `CKM_EDDSA`
//! (pure Ed25519), which SoftHSM2 and most HSMs offer. PKCS#11 defines no SM2 mechanism:
//! each vendor's module (a 密码卡 or HSM whose PKCS#11 library speaks SM2) defines its own
//! key type and mechanism number for "SM2 signature with SM3 over `Z_A ‖ M`". An SM2 key
//! (`CKK_EC` on the curve sm2p256v1) is used with the mechanism the URI's `x-mechanism`
//! names (`x-mechanism=0x…`, from the vendor's manual), and must sign with the default
//! identifier `1234567812345678`; its signature (`r ‖ s`, or DER, which is converted) is
//! verified here before use, so a module that hashes otherwise is refused at once.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

use crate::crypto::{Algorithm, PublicKey, Signature, Signer, SignerError};

/// The curve of an ed25519 key, as SoftHSM2 and PKCS#11 3.0 name it (the OID 1.3.101.112).
const ED25519_PARAMS: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// The curve sm2p256v1 (OID 1.2.156.10197.1.301).
const SM2_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];

/// What a `pkcs11:` URI says.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct KeyUri {
    pub token: Option<String>,
    pub object: Option<String>,
    pub id: Option<Vec<u8>>,
    pub slot_id: Option<u64>,
    pub module_path: Option<PathBuf>,
    pub pin_value: Option<String>,
    pub pin_source: Option<PathBuf>,
    pub mechanism: Option<u64>,
    /// The token's manufacturer, model and serial number, when the URI names them.
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
}

impl std::fmt::Debug for KeyUri {
    /// Never shows the PIN.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyUri")
            .field("token", &self.token)
            .field("object", &self.object)
            .field("id", &self.id)
            .field("slot_id", &self.slot_id)
            .field("module_path", &self.module_path)
            .field("pin_value", &self.pin_value.as_ref().map(|_| "…"))
            .field("pin_source", &self.pin_source)
            .field("mechanism", &self.mechanism)
            .finish_non_exhaustive()
    }
}

/// `text` with the value of any `pin-value` replaced, for messages.
fn redacted(text: &str) -> String {
    match text.split_once("pin-value=") {
        None => text.to_owned(),
        Some((before, after)) => {
            let rest = after.find('&').map_or("", |at| &after[at..]);
            format!("{before}pin-value=…{rest}")
        }
    }
}

/// Why a module key could not be opened, made or used.
#[derive(Debug, thiserror::Error)]
pub enum Pkcs11Error {
    #[error("not a pkcs11: URI: {0}")]
    Uri(String),
    #[error("the URI names no module: add module-path=… or set XINBAO_PKCS11_MODULE")]
    NoModule,
    #[error("the URI gives no PIN: add pin-source=FILE or pin-value=…, or set XINBAO_PKCS11_PIN")]
    NoPin,
    #[error("reading the PIN from {path}: {source}")]
    Pin {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the URI must name the key: object=LABEL or id=…")]
    NoObject,
    #[error("no token {0} in the module")]
    NoToken(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("the module: {0}")]
    Module(String),
}

impl From<cryptoki::error::Error> for Pkcs11Error {
    /// The module's answer in its PKCS#11 name (`PinIncorrect` is `CKR_PIN_INCORRECT`),
    /// with the call that gave it.
    fn from(e: cryptoki::error::Error) -> Pkcs11Error {
        Pkcs11Error::Module(match e {
            cryptoki::error::Error::Pkcs11(rv, function) => format!("{function:?}: {rv:?}"),
            other => other.to_string(),
        })
    }
}

impl KeyUri {
    /// Reads an RFC 7512 URI (the attributes xinbao uses; others are refused, so a typing
    /// mistake is not silently ignored).
    pub fn parse(text: &str) -> Result<KeyUri, Pkcs11Error> {
        let shown = redacted(text);
        let bad = |why: &str| Pkcs11Error::Uri(format!("{shown}: {why}"));
        let rest = text
            .trim()
            .strip_prefix("pkcs11:")
            .ok_or_else(|| bad("it does not start with pkcs11:"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = KeyUri::default();
        for part in path.split(';').filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| bad(&format!("{part:?} is not name=value")))?;
            let value = percent_decode(value).ok_or_else(|| bad("a bad %-escape"))?;
            match name {
                "token" => uri.token = Some(utf8(value).ok_or_else(|| bad("token"))?),
                "object" => uri.object = Some(utf8(value).ok_or_else(|| bad("object"))?),
                "id" => uri.id = Some(value),
                "slot-id" => {
                    let digits = utf8(value).ok_or_else(|| bad("slot-id"))?;
                    uri.slot_id = Some(digits.parse().map_err(|_| bad("slot-id"))?);
                }
                "manufacturer" => {
                    uri.manufacturer = Some(utf8(value).ok_or_else(|| bad("manufacturer"))?)
                }
                "model" => uri.model = Some(utf8(value).ok_or_else(|| bad("model"))?),
                "serial" => uri.serial = Some(utf8(value).ok_or_else(|| bad("serial"))?),
                // RFC 7512 lets a URI say the object's kind (xinbao always wants the key
                // pair) and describe the library and slot (the module path names them).
                "type"
                | "library-manufacturer"
                | "library-description"
                | "library-version"
                | "slot-description"
                | "slot-manufacturer" => {}
                other => return Err(bad(&format!("unknown attribute {other:?}"))),
            }
        }
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| bad(&format!("{part:?} is not name=value")))?;
            let value = utf8(percent_decode(value).ok_or_else(|| bad("a bad %-escape"))?)
                .ok_or_else(|| bad(name))?;
            match name {
                "module-path" => uri.module_path = Some(PathBuf::from(value)),
                "pin-value" => uri.pin_value = Some(value),
                "pin-source" => {
                    let path = value.strip_prefix("file:").unwrap_or(&value);
                    uri.pin_source = Some(PathBuf::from(path));
                }
                "x-mechanism" => {
                    let number = match value.strip_prefix("0x").or(value.strip_prefix("0X")) {
                        Some(digits) => u64::from_str_radix(digits, 16),
                        None => value.parse(),
                    };
                    uri.mechanism = Some(number.map_err(|_| bad("x-mechanism"))?);
                }
                "module-name" => {}
                other => return Err(bad(&format!("unknown query attribute {other:?}"))),
            }
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(Pkcs11Error::NoObject);
        }
        Ok(uri)
    }

    fn module(&self) -> Result<PathBuf, Pkcs11Error> {
        self.module_path
            .clone()
            .or_else(|| std::env::var_os("XINBAO_PKCS11_MODULE").map(PathBuf::from))
            .ok_or(Pkcs11Error::NoModule)
    }

    fn pin(&self) -> Result<AuthPin, Pkcs11Error> {
        if let Some(pin) = &self.pin_value {
            return Ok(AuthPin::from(pin.clone()));
        }
        if let Some(path) = &self.pin_source {
            let text = std::fs::read_to_string(path).map_err(|source| Pkcs11Error::Pin {
                path: path.clone(),
                source,
            })?;
            return Ok(AuthPin::from(
                text.trim_end_matches(['\n', '\r']).to_owned(),
            ));
        }
        std::env::var("XINBAO_PKCS11_PIN")
            .map(AuthPin::from)
            .map_err(|_| Pkcs11Error::NoPin)
    }

    /// The key's attributes that find it: label and id, as given.
    fn template(&self, class: ObjectClass) -> Vec<Attribute> {
        let mut template = vec![Attribute::Class(class)];
        if let Some(label) = &self.object {
            template.push(Attribute::Label(label.clone().into_bytes()));
        }
        if let Some(id) = &self.id {
            template.push(Attribute::Id(id.clone()));
        }
        template
    }
}

fn utf8(bytes: Vec<u8>) -> Option<String> {
    String::from_utf8(bytes).ok()
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let digits = bytes.get(i + 1..i + 3)?;
            if !digits.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A logged-in session on the token a URI names: read-write to make a key, read-only to
/// sign with one.
fn open_session(uri: &KeyUri, writable: bool) -> Result<(Pkcs11, Session), Pkcs11Error> {
    let module = Pkcs11::new(uri.module()?)?;
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // A library still loaded from an earlier opening in this process is initialised.
        Err(cryptoki::error::Error::Pkcs11(
            cryptoki::error::RvError::CryptokiAlreadyInitialized,
            _,
        ))
        | Ok(()) => {}
        Err(e) => return Err(e.into()),
    }
    let mut chosen = None;
    for slot in module.get_slots_with_initialized_token()? {
        if uri.slot_id.is_some_and(|id| id != slot.id()) {
            continue;
        }
        let info = module.get_token_info(slot)?;
        let matches = |wanted: &Option<String>, found: &str| {
            wanted
                .as_ref()
                .is_none_or(|w| w.as_str() == found.trim_end())
        };
        if matches(&uri.token, info.label())
            && matches(&uri.manufacturer, info.manufacturer_id())
            && matches(&uri.model, info.model())
            && matches(&uri.serial, info.serial_number())
        {
            chosen = Some(slot);
            break;
        }
    }
    let slot = chosen
        .ok_or_else(|| Pkcs11Error::NoToken(uri.token.clone().unwrap_or_else(|| "(any)".into())))?;
    let session = if writable {
        module.open_rw_session(slot)?
    } else {
        module.open_ro_session(slot)?
    };
    session.login(UserType::User, Some(&uri.pin()?))?;
    Ok((module, session))
}

/// A signing key held in a module.
pub struct ModuleKey {
    // The session is used by one signature at a time; the module is kept open with it.
    session: Mutex<Session>,
    _module: Pkcs11,
    private: ObjectHandle,
    public: PublicKey,
    mechanism: Option<u64>,
}

impl std::fmt::Debug for ModuleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModuleKey({:?})", self.public)
    }
}

impl ModuleKey {
    /// Opens the key a URI names: logs in, finds the private key and reads the public key.
    pub fn open(uri: &KeyUri) -> Result<ModuleKey, Pkcs11Error> {
        let (module, session) = open_session(uri, false)?;
        let one = |class: ObjectClass| -> Result<ObjectHandle, Pkcs11Error> {
            let found = session.find_objects(&uri.template(class))?;
            let class = if class == ObjectClass::PRIVATE_KEY {
                "private key"
            } else {
                "public key"
            };
            match found.as_slice() {
                [one] => Ok(*one),
                [] => Err(Pkcs11Error::NotFound(format!(
                    "no {class} named {:?} on the token",
                    uri.object.as_deref().unwrap_or("(by id)")
                ))),
                _ => Err(Pkcs11Error::NotFound(format!(
                    "{} {class}s match; name one with id=…",
                    found.len()
                ))),
            }
        };
        let private = one(ObjectClass::PRIVATE_KEY)?;
        let public_handle = one(ObjectClass::PUBLIC_KEY)?;
        let public = read_public_key(&session, public_handle)?;
        if public.algorithm() == Algorithm::Sm2 && uri.mechanism.is_none() {
            return Err(Pkcs11Error::Unsupported(
                "an SM2 key needs the module's SM2-with-SM3 mechanism: add x-mechanism=0x… \
                 from the vendor's manual"
                    .into(),
            ));
        }
        Ok(ModuleKey {
            session: Mutex::new(session),
            _module: module,
            private,
            public,
            mechanism: uri.mechanism,
        })
    }

    /// Makes a new key pair of `algorithm` inside the module, under the URI's label and
    /// id: the private half sensitive and never extractable. Only ed25519 (`CKM_EC_EDWARDS
    /// _KEY_PAIR_GEN`) is made here; an SM2 key is made with the vendor's own tools.
    pub fn generate(uri: &KeyUri, algorithm: Algorithm) -> Result<PublicKey, Pkcs11Error> {
        if algorithm != Algorithm::Ed25519 {
            return Err(Pkcs11Error::Unsupported(format!(
                "xinbao makes only ed25519 keys in a module; make the {algorithm} key with \
                 the module vendor's tools and name it in the URI"
            )));
        }
        let (_module, session) = open_session(uri, true)?;
        if !session
            .find_objects(&uri.template(ObjectClass::PRIVATE_KEY))?
            .is_empty()
        {
            return Err(Pkcs11Error::Unsupported(
                "a key with this label or id is already on the token; refusing to make another"
                    .into(),
            ));
        }
        let mut common = Vec::new();
        if let Some(label) = &uri.object {
            common.push(Attribute::Label(label.clone().into_bytes()));
        }
        if let Some(id) = &uri.id {
            common.push(Attribute::Id(id.clone()));
        }
        let mut public_template = vec![
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::EcParams(ED25519_PARAMS.to_vec()),
        ];
        public_template.extend(common.iter().cloned());
        let mut private_template = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ];
        private_template.extend(common);
        let (public, _private) = session.generate_key_pair(
            &Mechanism::EccEdwardsKeyPairGen,
            &public_template,
            &private_template,
        )?;
        read_public_key(&session, public)
    }
}

/// The public key of a module's public-key object: an ed25519 or SM2 point, from
/// `CKA_EC_POINT` (raw, or wrapped in a DER OCTET STRING as PKCS#11 says).
fn read_public_key(session: &Session, handle: ObjectHandle) -> Result<PublicKey, Pkcs11Error> {
    let attributes = session.get_attributes(
        handle,
        &[
            AttributeType::KeyType,
            AttributeType::EcParams,
            AttributeType::EcPoint,
        ],
    )?;
    let (mut key_type, mut params, mut point) = (None, None, None);
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    let point = point.ok_or_else(|| Pkcs11Error::Unsupported("the key has no EC point".into()))?;
    // A raw point of the right length is taken as it is (an SM2 point `04 3f …` would
    // otherwise read as an OCTET STRING of 63 bytes); anything else is unwrapped.
    let raw = point.len() == 32 || (point.len() == 65 && point[0] == 0x04);
    let point = if raw {
        &point[..]
    } else {
        unwrap_octet_string(&point).unwrap_or(&point)
    };
    let unsupported =
        || Pkcs11Error::Unsupported("the key is neither ed25519 nor SM2 (sm2p256v1)".into());
    let key = if key_type == Some(KeyType::EC_EDWARDS) {
        PublicKey::Ed25519(point.try_into().map_err(|_| unsupported())?)
    } else if params.as_deref() == Some(SM2_PARAMS) {
        PublicKey::Sm2(point.try_into().map_err(|_| unsupported())?)
    } else {
        return Err(unsupported());
    };
    key.check()
        .map_err(|e| Pkcs11Error::Unsupported(format!("the module's public key: {e}")))?;
    Ok(key)
}

/// The content of a DER OCTET STRING, if `bytes` is exactly one.
fn unwrap_octet_string(bytes: &[u8]) -> Option<&[u8]> {
    match bytes {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() && *len < 0x80 => Some(rest),
        [0x04, 0x81, len, rest @ ..] if usize::from(*len) == rest.len() => Some(rest),
        _ => None,
    }
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` → `r ‖ s`, for modules that answer in DER.
fn der_signature(der: &[u8]) -> Option<[u8; 64]> {
    let [0x30, len, body @ ..] = der else {
        return None;
    };
    if usize::from(*len) != body.len() {
        return None;
    }
    let mut out = [0u8; 64];
    let mut rest = body;
    for half in 0..2 {
        let [0x02, len, tail @ ..] = rest else {
            return None;
        };
        let len = usize::from(*len);
        let digits = tail.get(..len)?;
        let digits = match digits {
            [0, more @ ..] if more.len() == 32 => more,
            _ => digits,
        };
        if digits.len() > 32 {
            return None;
        }
        out[half * 32 + 32 - digits.len()..half * 32 + 32].copy_from_slice(digits);
        rest = &tail[len..];
    }
    rest.is_empty().then_some(out)
}

impl Signer for ModuleKey {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn try_sign(&self, domain: &[u8], message: &[u8]) -> Result<Signature, SignerError> {
        let signed = [domain, message].concat();
        let mechanism = match (self.public.algorithm(), self.mechanism) {
            (Algorithm::Ed25519, _) => {
                Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure))
            }
            (Algorithm::Sm2, Some(number)) => {
                Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(
                    MechanismType::new_vendor_defined(number)
                        .map_err(|e| SignerError(format!("x-mechanism: {e}")))?,
                    None,
                ))
            }
            (Algorithm::Sm2, None) => {
                return Err(SignerError("an SM2 key needs x-mechanism".into()))
            }
        };
        let session = self
            .session
            .lock()
            .map_err(|_| SignerError("the module's session was poisoned".into()))?;
        let bytes = session
            .sign(&mechanism, self.private, &signed)
            .map_err(|e| SignerError(format!("the module refused to sign: {e}")))?;
        drop(session);
        let raw: [u8; 64] = match bytes.as_slice().try_into() {
            Ok(raw) => raw,
            Err(_) => der_signature(&bytes).ok_or_else(|| {
                SignerError(format!(
                    "the module gave {} bytes, neither r ‖ s nor DER",
                    bytes.len()
                ))
            })?,
        };
        let signature = Signature(raw);
        self.public
            .verify(domain, message, &signature)
            .map_err(|e| SignerError(format!("the module's signature does not verify: {e}")))?;
        Ok(signature)
    }
}

/// Whether `text` names a key in a module rather than a key file.
pub fn is_uri(text: &str) -> bool {
    text.starts_with("pkcs11:")
}

/// Opens the key a `pkcs11:` URI names.
pub fn open(text: &str) -> Result<ModuleKey, Pkcs11Error> {
    ModuleKey::open(&KeyUri::parse(text)?)
}

/// `path` as a URI, when it is one (a key path argument given as text).
pub fn uri_of(path: &Path) -> Option<&str> {
    path.to_str().filter(|text| is_uri(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_read_as_rfc_7512_says() {
        let uri = KeyUri::parse(
            "pkcs11:token=xinbao;object=bank%20a;id=%01%02;type=private\
             ?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin&x-mechanism=0x80000e01",
        )
        .unwrap();
        assert_eq!(uri.token.as_deref(), Some("xinbao"));
        assert_eq!(uri.object.as_deref(), Some("bank a"));
        assert_eq!(uri.id.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(
            uri.module_path.as_deref(),
            Some(Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(uri.pin_source.as_deref(), Some(Path::new("/run/pin")));
        assert_eq!(uri.mechanism, Some(0x8000_0e01));
        let decimal =
            KeyUri::parse("pkcs11:object=a;model=SoftHSM%20v2;serial=123?x-mechanism=42").unwrap();
        assert_eq!(decimal.mechanism, Some(42));
        assert_eq!(decimal.model.as_deref(), Some("SoftHSM v2"));
        assert_eq!(decimal.serial.as_deref(), Some("123"));
        for bad in [
            "pkcs11:token=x",
            "file:key",
            "pkcs11:object=a;colour=red",
            "pkcs11:object=a?pin=1",
            "pkcs11:object=%zz",
            "pkcs11:object=a;slot-id=x",
            "pkcs11:object=%+1",
            "pkcs11:object=a?x-mechanism=0xzz",
        ] {
            assert!(KeyUri::parse(bad).is_err(), "{bad}");
        }
        // The PIN never shows: not in an error, not in Debug.
        let error = KeyUri::parse("pkcs11:object=a?pin-value=4711&x-mechanism=zz")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("4711"), "{error}");
        assert!(error.contains("pin-value=…&x-mechanism=zz"), "{error}");
        let uri = KeyUri::parse("pkcs11:object=a?pin-value=4711").unwrap();
        assert!(!format!("{uri:?}").contains("4711"));
    }

    #[test]
    fn der_signatures_convert_to_r_and_s() {
        let mut der = vec![0x30, 0x45, 0x02, 0x21, 0x00];
        der.extend([0x80; 32]);
        der.extend([0x02, 0x20]);
        der.extend([0x11; 32]);
        let raw = der_signature(&der).unwrap();
        assert_eq!(&raw[..32], &[0x80; 32]);
        assert_eq!(&raw[32..], &[0x11; 32]);
        assert_eq!(der_signature(&der[..der.len() - 1]), None);
        assert_eq!(
            unwrap_octet_string(&[0x04, 0x02, 7, 8]),
            Some(&[7u8, 8][..])
        );
        assert_eq!(unwrap_octet_string(&[0x04, 0x03, 7, 8]), None);
    }
}
