pub mod rota;
