//! `completions SHELL` and `man`: generated from the same clap definition as the parser, so
//! they cannot drift from it.

use std::fmt::Write as _;

use clap::CommandFactory;
use roff::{Roff, bold, roman};

use super::output::write_stdout;
use super::{Cli, Failure, exit};

/// Prints the completion script for `shell`.
pub(crate) fn completions(shell: clap_complete::Shell) -> Result<u8, Failure> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "continuum-vault", &mut script);
    let mut script = String::from_utf8(script).expect("completion scripts are text");
    if shell == clap_complete::Shell::Bash {
        // clap_complete's bash generator spells the state of a hyphenated binary's subcommands
        // one way in its dispatch loop (`continuum__vault__subcmd__get`) and another in the
        // case arms (`continuum__subcmd__vault__subcmd__get`), so nothing after a subcommand
        // ever completes (clap-rs/clap#6421). Spell the arms as the loop does.
        script = script.replace("continuum__subcmd__vault__", "continuum__vault__");
    }
    write_stdout(script.as_bytes())?;
    Ok(0)
}

/// Prints the manual page, section 1, in roff: the top-level page `clap_mangen` renders, then
/// every command with its options, examples and variables, then the exit codes.
pub(crate) fn man() -> Result<u8, Failure> {
    write_stdout(man_page().as_bytes())?;
    Ok(0)
}

/// One section of the page as `clap_mangen` renders it.
type Section = fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>;

/// The whole manual page.
pub(crate) fn man_page() -> String {
    let mut command = Cli::command();
    command.build();
    let man = clap_mangen::Man::new(command.clone());
    let mut page = Vec::new();
    let sections: [Section; 5] = [
        clap_mangen::Man::render_title,
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ];
    for section in sections {
        section(&man, &mut page).expect("rendering into memory cannot fail");
    }
    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    let globals: Vec<&str> = command
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.get_id().as_str())
        .collect();
    commands(&mut roff, &command, "continuum-vault", &globals);
    roff.control("SH", ["EXIT STATUS"]);
    for row in exit::TABLE {
        roff.control("TP", []);
        roff.text([bold(exit::codes_label(row.codes))]);
        roff.text([roman(row.meaning)]);
    }
    roff.control("PP", []);
    roff.text([roman(
        "Every error a user can fix prints a second line, hint: ..., with the fix.",
    )]);
    let mut text = String::from_utf8(page).expect("roff is text");
    text.push_str(&roff.to_roff());
    text
}

/// One subsection per command (and per subcommand, e.g. `recipients add`).
fn commands(roff: &mut Roff, parent: &clap::Command, trail: &str, globals: &[&str]) {
    for command in parent.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = format!("{trail} {}", command.get_name());
        roff.control("SS", [name.as_str()]);
        if let Some(about) = command.get_long_about().or_else(|| command.get_about()) {
            roff.text([roman(about.to_string())]);
        }
        let usage = command.clone().render_usage().to_string();
        roff.control("PP", []);
        roff.text([roman(usage.trim_start_matches("Usage: ").to_owned())]);
        // The global options are described once, at the top of the page.
        for arg in command
            .get_arguments()
            .filter(|a| !a.is_hide_set() && !globals.contains(&a.get_id().as_str()))
            .filter(|a| a.get_id() != "help")
        {
            roff.control("TP", []);
            roff.text([bold(arg_label(arg))]);
            let mut help = arg
                .get_long_help()
                .or_else(|| arg.get_help())
                .map(ToString::to_string)
                .unwrap_or_default();
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let is_flag = !arg.get_num_args().is_some_and(|n| n.takes_values());
            if !defaults.is_empty() && !is_flag {
                let _ = write!(help, " [default: {}]", defaults.join(", "));
            }
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_owned())
                .collect();
            if !values.is_empty() && !is_flag {
                let _ = write!(help, " [possible values: {}]", values.join(", "));
            }
            roff.text([roman(help)]);
        }
        if let Some(after) = command.get_after_long_help() {
            roff.control("PP", []);
            roff.control("nf", []);
            for line in after.to_string().lines() {
                roff.text([roman(line.to_owned())]);
            }
            roff.control("fi", []);
        }
        commands(roff, command, &name, globals);
    }
}

/// `--name <NAME>`, `-q, --quiet`, or `<NAME>` for a positional argument.
fn arg_label(arg: &clap::Arg) -> String {
    let value = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map_or_else(|| arg.get_id().as_str().to_uppercase(), ToString::to_string);
    if arg.is_positional() {
        return format!("<{value}>");
    }
    let mut label = String::new();
    if let Some(short) = arg.get_short() {
        label.push('-');
        label.push(short);
        label.push_str(", ");
    }
    if let Some(long) = arg.get_long() {
        label.push_str("--");
        label.push_str(long);
    }
    if arg.get_num_args().is_some_and(|n| n.takes_values()) {
        let _ = write!(label, " <{value}>");
    }
    label
}

/// Prints the long help of the subcommand at `path` (the top level when empty), as `--help` does.
pub(crate) fn help(path: &[String]) -> Result<u8, Failure> {
    let mut command = Cli::command();
    command.build();
    let mut current = &mut command;
    let mut trail = String::from("continuum-vault");
    for name in path {
        let known: Vec<&str> = current
            .get_subcommands()
            .map(clap::Command::get_name)
            .collect();
        let hint = if known.is_empty() {
            format!("`{trail}` has no subcommands")
        } else {
            format!("one of: {}", known.join(", "))
        };
        current = current
            .find_subcommand_mut(name)
            .ok_or_else(|| Failure::Usage {
                message: format!("no such command: {trail} {name}"),
                hint,
            })?;
        trail.push(' ');
        trail.push_str(name);
    }
    let text = current.render_long_help().to_string();
    write_stdout(text.as_bytes())?;
    Ok(0)
}
