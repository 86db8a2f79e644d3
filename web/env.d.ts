// esbuild bundles the imported stylesheet into the console's CSS asset.
declare module "*.css";
