//! `runnel completions bash|zsh|fish`: prints a completion script for the
//! shell, generated from the command definition so it never drifts.
//!
//! ```sh
//! runnel completions bash > ~/.local/share/bash-completion/completions/runnel
//! runnel completions zsh > "${fpath[1]}/_runnel"
//! runnel completions fish > ~/.config/fish/completions/runnel.fish
//! ```

use std::io::Write;

use clap::CommandFactory;

use crate::args::{Cli, Shell};
use crate::error::CliError;

/// Writes the completion script for `shell` to `out`.
///
/// ```
/// use runnel_cli::args::Shell;
///
/// let mut script = Vec::new();
/// runnel_cli::completions::run(Shell::Bash, &mut script).unwrap();
/// assert!(String::from_utf8(script).unwrap().contains("runnel"));
/// ```
pub fn run(shell: Shell, out: &mut dyn Write) -> Result<(), CliError> {
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut command, "runnel", &mut script);
    out.write_all(&script).map_err(CliError::Write)?;
    out.flush().map_err(CliError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_commands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            run(shell, &mut out).unwrap();
            let script = String::from_utf8(out).unwrap();
            for word in ["produce", "consume", "topic"] {
                assert!(script.contains(word), "{shell:?} lacks {word}");
            }
        }
    }
}
