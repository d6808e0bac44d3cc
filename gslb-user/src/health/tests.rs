//! Integration tests of the health monitors.
