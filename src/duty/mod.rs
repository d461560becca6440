//! The county's duty rota (值守接访, DESIGN §11): a leader on duty at the 矛调中心 on every working
//! day, each day a reception day made by the planning stage (`prepare`) on the working-day
//! calendar (`followup::workdays`). Rules in `rota`, the domain in `store`, the page in `pages`.

pub mod pages;
pub mod rota;
pub mod store;
