//! Basic auth: users' bcrypt hashes checked one at a time, a cache of verified credentials
//! (digests, never passwords), and a decoy hash so that an unknown user takes as long to
//! refuse as a wrong password.

use axum::http::HeaderValue;

use super::WebConfig;
use super::file::Settings;

/// A bcrypt hash of a password nobody has, checked for unknown users so that a wrong user
/// name takes as long to refuse as a wrong password.
const DECOY_HASH: &str = "$2b$10$6tn6Tp2Q7sOV1m7ZB5Eek.VbD5fvqr4Y7n7mFZbiUq9iYQ5k3qUEu";

/// How many verified credentials are remembered, so that a scraper's every request does not
/// cost a bcrypt check.
const AUTH_CACHE: usize = 64;

impl WebConfig {
    /// Whether `authorization` (the request's header) carries the credentials of a user of
    /// `settings`; always true when basic auth is off.
    pub(crate) async fn authorized(
        &self,
        settings: &Settings,
        authorization: Option<&HeaderValue>,
    ) -> bool {
        if settings.users.is_empty() {
            return true;
        }
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return false;
        };
        let known = settings.users.get(&user);
        let hash = known.map_or(DECOY_HASH, String::as_str).to_owned();
        let key = digest(&user, &password);
        if known.is_some() && self.verified.lock().get(&key) == Some(&hash) {
            return true;
        }
        let _one_at_a_time = self.bcrypt.lock().await;
        #[cfg(test)]
        self.bcrypt_checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let checked = hash.clone();
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &checked))
            .await
            .is_ok_and(|r| r.unwrap_or(false))
            && known.is_some();
        if ok {
            let mut verified = self.verified.lock();
            if verified.len() >= AUTH_CACHE {
                verified.clear();
            }
            verified.insert(key, hash);
        }
        ok
    }
}

/// The user and password of a `Basic` authorization header.
fn basic_credentials(header: &HeaderValue) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = header.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// SHA-256 of `user` and `password`: the verified-credentials cache holds no password.
fn digest(user: &str, password: &str) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(&(user.len() as u64).to_le_bytes());
    context.update(user.as_bytes());
    context.update(password.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::web::Reloads;

    #[tokio::test]
    async fn unknown_users_cost_a_real_bcrypt_check() {
        // The decoy is a valid hash of the usual cost, so checking it takes as long as
        // checking a real user's password.
        let parts: bcrypt::HashParts = DECOY_HASH.parse().unwrap();
        assert_eq!(parts.get_cost(), 10);
        let dir = std::env::temp_dir().join(format!("dynamo-web-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("web.yml");
        let hash = bcrypt::hash("right", 4).unwrap();
        std::fs::write(&file, format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
        let web = WebConfig::load(&file, Reloads::default()).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let settings = web.current();
        let checks = || web.bcrypt_checks.load(std::sync::atomic::Ordering::Relaxed);
        let basic = |credentials: &str| {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
        };
        // Each refusal costs one bcrypt check, a wrong user name as much as a wrong password.
        for (credentials, ok, after) in [
            ("mallory:right", false, 1),
            ("alice:wrong", false, 2),
            ("alice:right", true, 3),
            // A pair that passed is remembered: no check.
            ("alice:right", true, 3),
            ("nobody:", false, 4),
        ] {
            let header = basic(credentials);
            assert_eq!(
                web.authorized(&settings, Some(&header)).await,
                ok,
                "{credentials}"
            );
            assert_eq!(checks(), after, "{credentials}");
        }
        // No credentials, or not Basic ones: refused without a check.
        assert!(!web.authorized(&settings, None).await);
        assert_eq!(checks(), 4);
    }

    #[test]
    fn basic_credentials_are_parsed() {
        let header = |v: &str| HeaderValue::from_str(v).unwrap();
        assert_eq!(
            basic_credentials(&header("Basic YWxpY2U6b3Blbjpz")),
            Some(("alice".to_owned(), "open:s".to_owned()))
        );
        assert_eq!(
            basic_credentials(&header("basic  YWxpY2U6")),
            Some(("alice".to_owned(), String::new()))
        );
        for bad in [
            "Bearer YWxpY2U6b3Blbg==",
            "Basic !!!",
            "Basic YWxpY2U=",
            "Basic",
        ] {
            assert_eq!(basic_credentials(&header(bad)), None, "{bad}");
        }
        assert_ne!(digest("ab", "c"), digest("a", "bc"));
    }
}
