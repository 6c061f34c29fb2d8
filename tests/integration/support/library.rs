//! The library's [`Vault`] in a temporary HOME, as a program embedding it would build one.

use std::path::Path;

use continuum_vault::{KeySource, Vault};

/// The vault in `home/.continuum` with the file key source, seeing only HOME,
/// `XDG_CONFIG_HOME` (`home/.config`) and `vars` of the environment.
pub(crate) fn library_vault(home: &Path, vars: &[(&str, &str)]) -> Vault {
    let mut map: Vec<(String, std::ffi::OsString)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).into()))
        .collect();
    map.push(("HOME".into(), home.into()));
    map.push(("XDG_CONFIG_HOME".into(), home.join(".config").into()));
    Vault::builder()
        .dir(home.join(".continuum"))
        .key_source(KeySource::File)
        .env(move |name| map.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .build()
        .expect("build the vault")
}
