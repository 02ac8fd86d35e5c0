//! Runnel broker and topic configuration.
