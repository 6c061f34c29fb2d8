//! Secret names and the environment variables derived from them.

use crate::Error;

/// The default secret: the CONTINUUM API server's JWT signing secret.
pub(crate) const DEFAULT_NAME: &str = "jwt_secret";

/// A validated secret name: `^[a-z][a-z0-9_]{0,63}$`, not reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretName(String);

impl SecretName {
    pub(crate) fn new(name: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidName {
            name: name.to_owned(),
            reason,
        };
        let mut chars = name.chars();
        match chars.next() {
            None => return Err(invalid("it is empty")),
            Some(c) if !c.is_ascii_lowercase() => {
                return Err(invalid("it must start with a lowercase letter"));
            }
            Some(_) => {}
        }
        if name.len() > 64 {
            return Err(invalid("it is longer than 64 characters"));
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(invalid(
                "only lowercase letters, digits and '_' are allowed",
            ));
        }
        if name.ends_with("_file") || name.ends_with("_previous") || name.starts_with("vault") {
            return Err(invalid("the name is reserved"));
        }
        Ok(Self(name.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// `CONTINUUM_<NAME>`: the variable holding the value itself.
    pub(crate) fn env_var(&self) -> String {
        format!("CONTINUUM_{}", self.0.to_ascii_uppercase())
    }

    /// `CONTINUUM_<NAME>_FILE`: the variable naming a file that holds the value.
    pub(crate) fn file_env_var(&self) -> String {
        format!("{}_FILE", self.env_var())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for ok in [
            "jwt_secret",
            "a",
            "db_password2",
            &format!("a{}", "b".repeat(63)),
        ] {
            assert_eq!(SecretName::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_invalid_and_reserved_names() {
        for bad in [
            "",
            "1abc",
            "_x",
            "Jwt",
            "jwt-secret",
            "jwt secret",
            "../x",
            "x/y",
            "jwt_secret_file",
            "jwt_secret_previous",
            "vault",
            "vault_key",
            "é",
            &"a".repeat(65),
        ] {
            assert!(
                matches!(SecretName::new(bad), Err(Error::InvalidName { .. })),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn derives_env_vars() {
        let n = SecretName::new("jwt_secret").unwrap();
        assert_eq!(n.env_var(), "CONTINUUM_JWT_SECRET");
        assert_eq!(n.file_env_var(), "CONTINUUM_JWT_SECRET_FILE");
    }
}
