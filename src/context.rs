//! placeholder: being written (see issue).
