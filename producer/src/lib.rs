//! The Runnel producer.
