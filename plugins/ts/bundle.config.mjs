// Rolldown options that jco merges into its bundle of a plugin (--bundle-config): the
// contract's own imports (quarry:plugin/log) are provided by the host, not bundled.
export default { external: [/^quarry:/] };
