declare module 'node-gyp-build' {
  /** Loads the prebuild or local build of the addon whose package root is `dir`. */
  function nodeGypBuild(dir: string): unknown;
  export = nodeGypBuild;
}
