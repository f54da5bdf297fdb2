declare module 'node-gyp-build' {
  /** Loads the prebuild or local build of the addon whose package root is `dir`. */
  function nodeGypBuild(dir: string): unknown;
  namespace nodeGypBuild {
    /**
     * The file nodeGypBuild(dir) would load: build/Release, build/Debug, then
     * prebuilds/<platform>-<arch>/; throws "No native build was found…" if none fits.
     */
    function path(dir: string): string;
  }
  export = nodeGypBuild;
}
