//! Exit codes: the one table that maps the library's error classes to numbers, and the text
//! the top-level help shows. The README's "Exit codes" table is checked against it.

use std::fmt::Write;

use continuum_vault::ErrorClass;

/// `run`: the command exists but could not be executed (as in POSIX shells).
pub(crate) const CANNOT_EXECUTE: u8 = 126;
/// `run`: the command was not found (as in POSIX shells).
pub(crate) const COMMAND_NOT_FOUND: u8 = 127;

/// One row of the table: the codes, the error class they stand for (`None` for success and
/// for `run`'s own codes) and what they mean.
pub(crate) struct Row {
    pub(crate) codes: &'static [u8],
    pub(crate) class: Option<ErrorClass>,
    pub(crate) meaning: &'static str,
}

/// Every exit code the command uses, in order.
pub(crate) const TABLE: &[Row] = &[
    Row {
        codes: &[0],
        class: None,
        meaning: "success (`status`: healthy, i.e. `get --no-create` would succeed without writing)",
    },
    Row {
        codes: &[1],
        class: Some(ErrorClass::Other),
        meaning: "other error (I/O, disk full, read-only file system)",
    },
    Row {
        codes: &[2],
        class: Some(ErrorClass::Usage),
        meaning: "usage: bad option, bad name, bad setting, empty value",
    },
    Row {
        codes: &[3],
        class: Some(ErrorClass::NotFound),
        meaning: "not found (`get --no-create`, `status`), or a `_FILE` that does not exist",
    },
    Row {
        codes: &[4],
        class: Some(ErrorClass::UnsafePath),
        meaning: "unsafe path: permissions, owner, symlink, not a regular file, too large",
    },
    Row {
        codes: &[5],
        class: Some(ErrorClass::Corrupt),
        meaning: "corrupt or undecryptable (file, metadata, key file)",
    },
    Row {
        codes: &[6],
        class: Some(ErrorClass::KeyUnavailable),
        meaning: "keyring unavailable, locked, entry missing or invalid, or timed out (keyring or lock)",
    },
    Row {
        codes: &[7],
        class: Some(ErrorClass::Conflict),
        meaning: "conflict or ambiguous configuration (`set`/`restore` without `--force`, an existing \
                  backup file, key source contradicting the record, both `VAR` and `VAR_FILE`)",
    },
    Row {
        codes: &[CANNOT_EXECUTE, COMMAND_NOT_FOUND],
        class: None,
        meaning: "`run`: CMD could not be executed / was not found",
    },
];

/// The exit code for an error of `class`. A class this table does not know yet (the library
/// may add some) counts as "other".
pub(crate) fn for_class(class: ErrorClass) -> u8 {
    TABLE
        .iter()
        .find(|row| row.class == Some(class))
        .or_else(|| {
            TABLE
                .iter()
                .find(|row| row.class == Some(ErrorClass::Other))
        })
        .map_or(1, |row| row.codes[0])
}

/// The "Exit codes:" section of the top-level help, built from [`TABLE`].
pub(crate) fn help() -> String {
    let rows: Vec<(String, &str)> = TABLE
        .iter()
        .map(|row| (codes_label(row.codes), row.meaning))
        .collect();
    let width = rows.iter().map(|(codes, _)| codes.len()).max().unwrap_or(0);
    let mut text = String::from("Exit codes:\n");
    for (codes, meaning) in rows {
        let _ = writeln!(text, "  {codes:>width$}  {meaning}");
    }
    text.push_str("\nEvery error a user can fix prints a second line, `hint: ...`, with the fix.");
    text
}

/// `126, 127`: the codes of a row as the README writes them.
pub(crate) fn codes_label(codes: &[u8]) -> String {
    codes
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSES: [ErrorClass; 7] = [
        ErrorClass::Other,
        ErrorClass::Usage,
        ErrorClass::NotFound,
        ErrorClass::UnsafePath,
        ErrorClass::Corrupt,
        ErrorClass::KeyUnavailable,
        ErrorClass::Conflict,
    ];

    #[test]
    fn every_class_has_exactly_one_row_and_its_own_code() {
        let mut seen = Vec::new();
        for class in CLASSES {
            let rows = TABLE.iter().filter(|r| r.class == Some(class)).count();
            assert_eq!(rows, 1, "{class:?} has {rows} rows");
            let code = for_class(class);
            assert!(!seen.contains(&code), "{class:?} shares code {code}");
            seen.push(code);
        }
        assert_eq!(seen, [1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn codes_are_unique_ascending_and_include_success_and_runs_own() {
        let all: Vec<u8> = TABLE.iter().flat_map(|r| r.codes.iter().copied()).collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
        assert_eq!(all[0], 0);
        assert!(all.contains(&CANNOT_EXECUTE) && all.contains(&COMMAND_NOT_FOUND));
    }


    /// The rows of the README's "Exit codes" table: (codes, meaning).
    fn readme_rows() -> Vec<(String, String)> {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("\n## Exit codes\n")
            .nth(1)
            .expect("README.md has an \"## Exit codes\" section");
        section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2) // the header and the |---| line
            .map(|line| {
                let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
                assert_eq!(cells.len(), 2, "two columns: {line}");
                (cells[0].trim().to_owned(), cells[1].trim().to_owned())
            })
            .collect()
    }

    #[test]
    fn the_table_is_the_readme_table() {
        let ours: Vec<(String, String)> = TABLE
            .iter()
            .map(|r| (codes_label(r.codes), r.meaning.to_owned()))
            .collect();
        assert_eq!(ours, readme_rows());
    }

    #[test]
    fn help_lists_every_row_aligned() {
        let help = help();
        assert!(
            help.starts_with("Exit codes:\n         0  success"),
            "{help}"
        );
        assert!(help.contains("\n  126, 127  `run`: CMD"), "{help}");
        assert_eq!(help.lines().count(), TABLE.len() + 3);
    }
}
