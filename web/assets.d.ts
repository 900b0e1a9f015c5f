// Files the server embeds as text (Bun's `with { type: "text" }` imports).
declare module "*.webmanifest" {
  const text: string;
  export default text;
}
declare module "*/sw.js" {
  const text: string;
  export default text;
}
declare module "*.svg" {
  const text: string;
  export default text;
}
// Stylesheets imported from scripts are bundled into the page's CSS by Bun.
declare module "*.css";
// Word lists the server embeds (core/auth/common-passwords.txt).
declare module "*.txt" {
  const text: string;
  export default text;
}
