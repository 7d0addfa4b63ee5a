//! `cargo xtask fakes`: runs every provider fake on 127.0.0.1 and prints a `cloudmirror.toml`
//! that points at them, until Ctrl-C.

use anyhow::Result;

use crate::targets::Fakes;

pub(crate) fn run(_args: &[String]) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let fakes = Fakes::start().await;
        let dir = std::env::current_dir()?.join("fake-local");
        println!("{}", fakes.config_toml(&dir));
        eprintln!("xtask fakes: the fakes run until Ctrl-C. Save the config above as cloudmirror.toml and try:");
        eprintln!("  cargo run -- backup README.md && cargo run -- list && cargo run -- verify --deep");
        tokio::signal::ctrl_c().await?;
        eprintln!("xtask fakes: stopped");
        drop(fakes);
        anyhow::Ok(())
    })
}
