//! `status [NAME] [--json]`: which source would win, and what is wrong, with fixes.

use continuum_vault::Vault;

use super::Failure;
use super::output::{Output, write_stdout};

pub(crate) fn run(vault: &Vault, name: &str, json: bool) -> Result<u8, Failure> {
    let status = vault.status(name)?;
    if json {
        Output::json("status", &status)?;
    } else {
        write_stdout(human(&status).as_bytes())?;
    }
    // The first problem decides, through the CLI's one table of exit codes.
    Ok(status
        .problems
        .first()
        .map_or(0, |p| super::exit::for_class(p.class)))
}

pub(crate) fn list(vault: &Vault, json: bool) -> Result<u8, Failure> {
    use std::fmt::Write;
    let listed = vault.list()?;
    if json {
        #[derive(serde::Serialize)]
        struct Secrets<'a> {
            secrets: &'a [continuum_vault::Listed],
        }
        Output::json("list", Secrets { secrets: &listed })?;
        return Ok(0);
    }
    let mut text = String::new();
    if listed.is_empty() {
        let _ = writeln!(text, "no secrets in {}", vault.dir().display());
    } else {
        let _ = writeln!(
            text,
            "{:<24} {:<11} {:<14} PREVIOUS",
            "NAME", "SOURCE", "KEY"
        );
    }
    for l in &listed {
        let _ = writeln!(
            text,
            "{:<24} {:<11} {:<14} {}",
            l.name,
            l.source,
            l.key_source.map_or("-", continuum_vault::KeySource::as_str),
            l.previous_expires
                .as_ref()
                .map_or_else(|| "-".to_owned(), |t| format!("valid until {t}"))
        );
    }
    write_stdout(text.as_bytes())?;
    Ok(0)
}

/// The lines of the OpenBao store, under `status`.
fn store_lines(out: &mut String, store: &continuum_vault::StoreStatus) {
    use std::fmt::Write;
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let _ = writeln!(out, "store:         openbao");
    let _ = writeln!(out, "address:       {}", or_dash(store.address.clone()));
    let _ = writeln!(out, "store path:    {}", or_dash(store.path.clone()));
    let _ = writeln!(
        out,
        "version:       {}",
        or_dash(store.version.map(|v| v.to_string()))
    );
    let _ = writeln!(
        out,
        "reachable:     {}",
        match store.reachable {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        }
    );
    let _ = writeln!(
        out,
        "local copy:    {}",
        match (&store.copy, store.copy_age_secs) {
            _ if !store.cache => "off (CONTINUUM_VAULT_CACHE=off)".to_owned(),
            (Some(p), Some(age)) => format!(
                "{}, confirmed {} ago",
                p.display(),
                humantime::format_duration(std::time::Duration::from_secs(age))
            ),
            _ => "none yet".to_owned(),
        }
    );
}

fn human(s: &continuum_vault::Status) -> String {
    use std::fmt::Write;
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let mut out = String::new();
    let _ = writeln!(out, "secret:        {}", s.name);
    let _ = writeln!(out, "source:        {}", s.source);
    let _ = writeln!(out, "path:          {}", s.path.display());
    let _ = writeln!(
        out,
        "exists:        {}",
        if s.exists { "yes" } else { "no" }
    );
    let _ = writeln!(out, "mode:          {}", or_dash(s.mode.clone()));
    let _ = writeln!(
        out,
        "owner uid:     {}",
        or_dash(s.owner_uid.map(|u| u.to_string()))
    );
    let _ = writeln!(out, "content:       {}", s.content);
    let _ = writeln!(
        out,
        "key source:    {} (requested: {})",
        or_dash(s.key_source.map(|k| k.as_str().to_owned())),
        s.requested_key_source.as_str()
    );
    let _ = writeln!(out, "vault id:      {}", or_dash(s.vault_id.clone()));
    let _ = writeln!(out, "recipient:     {}", or_dash(s.recipient.clone()));
    for r in &s.recipients {
        let _ = writeln!(out, "also sealed to: {r}");
    }
    let _ = writeln!(out, "key:           {}", or_dash(s.key_location.clone()));
    let _ = writeln!(out, "protection:    {}", or_dash(s.protection.clone()));
    if let Some(line) = &s.credential_unit_line {
        let _ = writeln!(out, "unit line:     {line}");
        let _ = writeln!(
            out,
            "tpm2:          {}",
            if s.tpm2 == Some(true) {
                "yes (new credentials are sealed to it too)"
            } else {
                "no (sealed to the host key only)"
            }
        );
    }
    let _ = writeln!(
        out,
        "previous:      {}",
        s.previous_expires
            .as_ref()
            .map_or_else(|| "-".to_owned(), |t| format!("valid until {t}"))
    );
    let _ = writeln!(
        out,
        "keyring:       {}",
        match s.keyring_reachable {
            Some(true) if s.keyring_locked == Some(true) =>
                "reachable, but its collection is locked",
            Some(true) => "reachable",
            Some(false) => "unreachable",
            None => "not needed",
        }
    );
    if let Some(store) = &s.store {
        store_lines(&mut out, store);
    }
    let _ = writeln!(
        out,
        "healthy:       {}",
        if s.healthy { "yes" } else { "no" }
    );
    for (label, list) in [("problem:", &s.problems), ("warning:", &s.warnings)] {
        for p in list {
            let _ = writeln!(out, "{label:<15}{}", p.message);
            if let Some(fix) = &p.fix {
                let _ = writeln!(out, "  fix:         {fix}");
            }
        }
    }
    out
}
