//! cloudmirror library (being written).
