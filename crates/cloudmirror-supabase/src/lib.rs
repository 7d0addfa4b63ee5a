//! Placeholder: the supabase adapter is being written (see its issue).
