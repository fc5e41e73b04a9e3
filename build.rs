// Migrations (`sqlx::migrate!`) and the admin build (`rust-embed`) are embedded; rebuild when
// they change.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    // The admin client is embedded from its committed build.
    println!("cargo:rerun-if-changed=admin/dist");
}
