//! End-to-end and component tests; see the files under tests/tests/.
