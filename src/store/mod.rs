//! Where the secrets themselves are kept. Today one store: [`local`], the vault directory
//! (`~/.continuum`) of age-sealed files with its metadata and lock. A remote store (a
//! secrets manager) is one more module here, called from the same places in
//! [`crate::resolve`] and [`crate::lifecycle`].

pub(crate) mod local;
