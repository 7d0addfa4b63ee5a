//! Placeholder: the supabase fake is being written (see the supabase adapter issue).
