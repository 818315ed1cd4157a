//! Runs the sandbox by hand: `cargo run -p sandbox --example serve -- [ADDR] [KUBECONFIG] [CLUSTER.yaml]`.

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:6443".into())
        .parse()?;
    let kubeconfig = args.next().unwrap_or_else(|| "sandbox.kubeconfig".into());
    let mut opts = sandbox::ServeOptions::new(listen, &kubeconfig);
    opts.cluster = args.next().map(Into::into);
    println!("serving on {listen}; kubeconfig in {kubeconfig}");
    sandbox::serve(opts).await?;
    Ok(())
}
