/** when { branch 'main'; expression { ... }; allOf { }; anyOf { }; not { }; environment ...; changeRequest() }. */
class WhenDsl {
    List conditions = []
    boolean beforeAgent

    void beforeAgent(boolean value) { beforeAgent = value }

    void beforeInput(boolean value) { }

    void beforeOptions(boolean value) { }

    void branch(String pattern) {
        conditions.add { PipelineHarness h, Script root -> WhenDsl.glob(pattern, h.effectiveEnv().BRANCH_NAME) }
    }

    void tag(String pattern) {
        conditions.add { PipelineHarness h, Script root -> WhenDsl.glob(pattern, h.effectiveEnv().TAG_NAME) }
    }

    void buildingTag() { conditions.add { PipelineHarness h, Script root -> h.effectiveEnv().TAG_NAME != null } }

    void changeRequest(Map args = [:]) { conditions.add { PipelineHarness h, Script root -> h.effectiveEnv().CHANGE_ID != null } }

    void environment(Map args) {
        conditions.add { PipelineHarness h, Script root -> h.effectiveEnv()[args.name] == args.value?.toString() }
    }

    void triggeredBy(String cause) { conditions.add { PipelineHarness h, Script root -> cause in h.causes } }

    void expression(Closure body) {
        conditions.add { PipelineHarness h, Script root -> h.runBody(body, root) as boolean }
    }

    void allOf(Closure body) {
        WhenDsl inner = (WhenDsl) DeclarativeDsl.collect(body, new WhenDsl())
        conditions.add { PipelineHarness h, Script root -> inner.evaluate(h, root) }
    }

    void anyOf(Closure body) {
        WhenDsl inner = (WhenDsl) DeclarativeDsl.collect(body, new WhenDsl())
        conditions.add { PipelineHarness h, Script root -> inner.conditions.any { Closure c -> c.call(h, root) } }
    }

    void not(Closure body) {
        WhenDsl inner = (WhenDsl) DeclarativeDsl.collect(body, new WhenDsl())
        conditions.add { PipelineHarness h, Script root -> !inner.evaluate(h, root) }
    }

    boolean evaluate(PipelineHarness h, Script root) {
        return conditions.every { Closure c -> c.call(h, root) }
    }

    static boolean glob(String pattern, String value) {
        if (value == null) {
            return false
        }
        String regex = pattern.collect { String ch -> ch == '*' ? '.*' : ch == '?' ? '.' : java.util.regex.Pattern.quote(ch) }.join('')
        return value ==~ regex
    }
}
