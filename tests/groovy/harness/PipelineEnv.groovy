/** The `env` global: reads see withEnv/withCredentials overlays; writes set build-wide variables. */
class PipelineEnv {
    PipelineHarness harness

    def propertyMissing(String name) { harness.effectiveEnv()[name] }

    def propertyMissing(String name, Object value) { harness.globalEnv[name] = value == null ? null : value.toString() }

    def getAt(String name) { harness.effectiveEnv()[name] }

    void putAt(String name, Object value) { propertyMissing(name, value) }

    Map getEnvironment() { harness.effectiveEnv() }
}
