//! A connection to a Runnel broker.
