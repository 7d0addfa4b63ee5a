//! Before a backup (the binary calls it before `backup::run`): is there room for the spool? Refuses when the spool folder's free space is
//! below `min(spool_limit, last backup's stored size)`.

use std::path::Path;

use crate::backup::spool::limit::{check_free_space, free_space};
use crate::backup::BackupPlan;
use crate::destination::Destination;
use crate::Error;

/// Checks the spool folder's free space for `plan`. The destinations are listed (for the newest
/// backup's size) only when the free space is below the limit, so a roomy spool folder costs no
/// request.
pub async fn check_spool_space(
    plan: &BackupPlan,
    destinations: &[Destination],
) -> Result<(), Error> {
    let dir = plan.spool_dir.clone().unwrap_or_else(std::env::temp_dir);
    let Some(free) = free_space(&dir) else {
        return Ok(());
    };
    if plan.spool_limit.bytes().is_some_and(|l| free >= l) {
        return Ok(());
    }
    let last = last_backup_size(destinations).await;
    check_free_space(Path::new(&dir), free, plan.spool_limit, last).map_err(Error::Input)
}

/// The stored size of the newest backup on the first destination that can be listed.
async fn last_backup_size(destinations: &[Destination]) -> Option<u64> {
    for dest in destinations {
        match crate::catalog::backups_on(dest).await {
            Ok(backups) => {
                return backups
                    .iter()
                    .max_by(|a, b| a.modified.cmp(&b.modified).then(a.name.cmp(&b.name)))
                    .map(|b| b.size);
            }
            Err(e) => {
                tracing::debug!(destination = %dest.name, "cannot list for the spool check: {e}");
            }
        }
    }
    None
}
