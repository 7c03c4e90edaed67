//! JWT HS256 authentication of the Engine API (execution-apis `src/engine/authentication.md`).
//!
//! The consensus client signs a fresh token for every request with the shared 256-bit secret;
//! the only required claim is `iat` (issued-at, unix seconds), which the execution client
//! accepts within ±60 s of its own clock ([`IAT_WINDOW_SECS`]). No JWT crate: HS256 is one HMAC
//! over two base64url segments, and the verifier below accepts exactly that algorithm (a token
//! claiming `alg: none` or anything else is refused, the classic JWT downgrade).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;

/// Length of the shared secret (authentication.md: "256 bit secret key").
pub const JWT_SECRET_LEN: usize = 32;
/// authentication.md: the execution client SHOULD only accept `iat` within ±60 s of now.
pub const IAT_WINDOW_SECS: u64 = 60;

/// `base64url({"alg":"HS256","typ":"JWT"})`, the same for every token.
const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

type HmacSha256 = Hmac<Sha256>;

/// Why a token or a secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the secret is not 32 hex-encoded bytes: {0}")]
    BadSecret(String),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("unsupported JWT algorithm (only HS256)")]
    Algorithm,
    #[error("bad signature")]
    Signature,
    #[error("missing iat claim")]
    MissingIat,
    #[error("stale token: iat {iat} is more than {IAT_WINDOW_SECS} s from now ({now})")]
    Stale { iat: u64, now: u64 },
}

/// The shared 256-bit secret. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSecret([u8; JWT_SECRET_LEN]);

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(..)")
    }
}

impl JwtSecret {
    pub fn from_bytes(bytes: [u8; JWT_SECRET_LEN]) -> Self {
        JwtSecret(bytes)
    }

    /// Parses 64 hex digits, with or without `0x`, surrounding whitespace ignored (the file
    /// format every client writes: one line, often with a trailing newline).
    pub fn from_hex(text: &str) -> Result<Self, JwtError> {
        let text = text.trim();
        let digits = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .unwrap_or(text);
        let bytes = hex::decode(digits).map_err(|e| JwtError::BadSecret(e.to_string()))?;
        let bytes: [u8; JWT_SECRET_LEN] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| JwtError::BadSecret(format!("{} bytes", v.len())))?;
        Ok(JwtSecret(bytes))
    }

    /// Reads a secret file (authentication.md: a missing or malformed file is an error, never
    /// silently replaced).
    pub fn from_file(path: &Path) -> Result<Self, JwtError> {
        let text = std::fs::read_to_string(path).map_err(|e| JwtError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_hex(&text).map_err(|e| JwtError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// A fresh random secret from the operating system's generator.
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; JWT_SECRET_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        JwtSecret(bytes)
    }

    /// authentication.md: "If such a parameter is not given, the client SHOULD generate such a
    /// token ... and SHOULD store the hex-encoded secret as a `jwt.hex` file": reads `path` if it
    /// exists, otherwise generates a secret and writes it there (mode 0600: it is a credential),
    /// through a temporary file and a rename so that a client reading the file at the same time
    /// never sees half a secret.
    pub fn load_or_generate(path: &Path) -> Result<Self, JwtError> {
        if path.exists() {
            return Self::from_file(path);
        }
        let secret = Self::generate();
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let file_error = |e: std::io::Error| JwtError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(file_error)?;
        std::io::Write::write_all(&mut file, format!("0x{}\n", secret.to_hex()).as_bytes())
            .and_then(|()| file.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                file_error(e)
            })?;
        Ok(secret)
    }

    /// The secret as 64 lowercase hex digits (no `0x`).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length: this cannot fail.
        <HmacSha256 as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!())
    }

    /// An HS256 token with the single claim `iat` (unix seconds).
    pub fn token(&self, iat: u64) -> String {
        let header = URL_SAFE_NO_PAD.encode(HEADER_JSON);
        let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"iat":{iat}}}"#));
        let signing_input = format!("{header}.{claims}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// The server side: checks an HS256 token's signature (constant time) and that its `iat`
    /// is within [`IAT_WINDOW_SECS`] of `now`. Returns the `iat`. Unknown claims are ignored
    /// (authentication.md: they MUST be).
    pub fn verify(&self, token: &str, now: u64) -> Result<u64, JwtError> {
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed("not three dot-separated parts"));
        };
        let header_json = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| JwtError::Malformed("header is not base64url"))?;
        let header_json: serde_json::Value = serde_json::from_slice(&header_json)
            .map_err(|_| JwtError::Malformed("header is not JSON"))?;
        if header_json.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(JwtError::Algorithm);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| JwtError::Malformed("signature is not base64url"))?;
        let mut mac = self.mac();
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(claims.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| JwtError::Signature)?;
        let claims = URL_SAFE_NO_PAD
            .decode(claims)
            .map_err(|_| JwtError::Malformed("claims are not base64url"))?;
        let claims: serde_json::Value = serde_json::from_slice(&claims)
            .map_err(|_| JwtError::Malformed("claims are not JSON"))?;
        let iat = claims
            .get("iat")
            .and_then(|iat| iat.as_u64())
            .ok_or(JwtError::MissingIat)?;
        if iat.abs_diff(now) > IAT_WINDOW_SECS {
            return Err(JwtError::Stale { iat, now });
        }
        Ok(iat)
    }
}

/// Seconds since the unix epoch (0 if the clock is before 1970, which no token check survives).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "secretsecret..." as 32 bytes.
    const SECRET_HEX: &str = "7365637265747365637265747365637265747365637265747365637265747365";

    /// The token computed independently (Python: `hmac.new(key, header + "." + claims,
    /// sha256)` over the base64url-unpadded segments) for `iat` 1700000000.
    const TOKEN_1700000000: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDB9.M2nY84VaM-AUfRGDPC_vdyUsN1rvFs8UaGBU76h2vK4";

    #[test]
    fn token_matches_an_independent_hs256() {
        let secret = JwtSecret::from_hex(SECRET_HEX).unwrap();
        assert_eq!(secret.token(1_700_000_000), TOKEN_1700000000);
    }

    #[test]
    fn secret_hex_forms() {
        let plain = JwtSecret::from_hex(SECRET_HEX).unwrap();
        assert_eq!(
            JwtSecret::from_hex(&format!("0x{SECRET_HEX}\n")).unwrap(),
            plain
        );
        assert_eq!(
            JwtSecret::from_hex(&format!("  {SECRET_HEX}  ")).unwrap(),
            plain
        );
        assert_eq!(plain.to_hex(), SECRET_HEX);
        assert!(matches!(
            JwtSecret::from_hex(&SECRET_HEX[2..]),
            Err(JwtError::BadSecret(_))
        ));
        assert!(JwtSecret::from_hex("0xzz").is_err());
        assert!(JwtSecret::from_hex("").is_err());
        assert!(
            !format!("{plain:?}").contains("73"),
            "Debug must not print the secret"
        );
    }

    #[test]
    fn verify_accepts_within_sixty_seconds() {
        let secret = JwtSecret::from_hex(SECRET_HEX).unwrap();
        let now = 1_700_000_000;
        assert_eq!(secret.verify(TOKEN_1700000000, now), Ok(now));
        assert_eq!(secret.verify(TOKEN_1700000000, now + 60), Ok(now));
        assert_eq!(secret.verify(TOKEN_1700000000, now - 60), Ok(now));
        assert_eq!(
            secret.verify(TOKEN_1700000000, now + 61),
            Err(JwtError::Stale {
                iat: now,
                now: now + 61
            })
        );
        assert!(matches!(
            secret.verify(TOKEN_1700000000, now - 61),
            Err(JwtError::Stale { .. })
        ));
    }

    #[test]
    fn verify_refuses_forgeries() {
        let secret = JwtSecret::from_hex(SECRET_HEX).unwrap();
        let other = JwtSecret::from_bytes([1; 32]);
        let now = 1_700_000_000;
        assert_eq!(
            other.verify(TOKEN_1700000000, now),
            Err(JwtError::Signature)
        );
        // alg "none" with an empty signature: the downgrade attack.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"iat":1700000000}"#)
        );
        assert_eq!(secret.verify(&none, now), Err(JwtError::Algorithm));
        // Claims changed after signing.
        let mut parts: Vec<&str> = TOKEN_1700000000.split('.').collect();
        let forged_claims = URL_SAFE_NO_PAD.encode(r#"{"iat":1700000100}"#);
        parts[1] = &forged_claims;
        assert_eq!(
            secret.verify(&parts.join("."), now),
            Err(JwtError::Signature)
        );
        // No iat (correctly signed).
        let header = URL_SAFE_NO_PAD.encode(HEADER_JSON);
        let claims = URL_SAFE_NO_PAD.encode(r#"{"id":"ember"}"#);
        let mut mac = secret.mac();
        mac.update(format!("{header}.{claims}").as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        assert_eq!(
            secret.verify(&format!("{header}.{claims}.{sig}"), now),
            Err(JwtError::MissingIat)
        );
        for garbage in ["", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.e30"] {
            assert!(secret.verify(garbage, now).is_err(), "{garbage}");
        }
    }

    #[test]
    fn generated_secret_round_trips_through_a_file() {
        let dir = std::env::temp_dir().join(format!("ember-jwt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("jwt.hex");
        let generated = JwtSecret::load_or_generate(&path).unwrap();
        assert_eq!(JwtSecret::from_file(&path).unwrap(), generated);
        assert_eq!(JwtSecret::load_or_generate(&path).unwrap(), generated);
        assert_ne!(JwtSecret::generate(), generated);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "nope").unwrap();
        assert!(matches!(
            JwtSecret::from_file(&path),
            Err(JwtError::File { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
