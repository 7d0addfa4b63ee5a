//! Generated documentation: shell completions (`completions <shell>`, clap_complete) and the man
//! page (hidden `man` command, clap_mangen; `cargo xtask man` writes it to a file).

use std::io::Write;

use clap::CommandFactory;
use cloudmirror::Error;

use crate::Cli;

/// Prints the completion script for `shell` on stdout.
pub(crate) fn completions(shell: clap_complete::Shell) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "cloudmirror", &mut std::io::stdout());
}

/// Prints the `cloudmirror(1)` man page (roff) on stdout.
pub(crate) fn man() -> Result<(), Error> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| Error::Input(format!("cannot render the man page: {e}")))?;
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| Error::Input(format!("cannot write the man page: {e}")))
}
