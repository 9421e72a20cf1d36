use crate::context::{Scalability, Security};
use crate::model::ArchitectureModel;
use crate::requirements::{RequirementAnswers, Requirements};

use super::*;

fn extreme_critical() -> Requirements {
    Requirements::derive(
        Scalability::Extreme,
        Security::Critical,
        &RequirementAnswers::default(),
    )
}

#[test]
fn prints_the_platform_report() {
    let model = ArchitectureModel::microservices("ecommerce-platform");
    println!("{}", verify(&model, &extreme_critical()).to_text());
}
