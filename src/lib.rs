//! arch-init: from a project's answers to a recorded, explained architecture decision and a
//! repository shaped by it. `run` is the whole pipeline; every stage below is a module.

pub mod catalog;
pub mod context;
pub mod model;
pub mod recommend;
pub mod requirements;
pub mod research;
pub mod verify;
