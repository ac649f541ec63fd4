package org.mlci

/**
 * For the steps that promise never to fail a build (mlciReport, mlciSite): a failure becomes one
 * WARNING line, including the step of a plugin that is not installed (NoSuchMethodError, an Error that
 * `catch (Exception)` misses). An abort (InterruptedException) and a sandbox rejection (a
 * SecurityException, which an administrator must see to approve) propagate.
 */
class Warnings implements Serializable {
    private static final long serialVersionUID = 1L

    static void onFailure(Object script, String step, String what, Closure body) {
        try {
            body()
        } catch (InterruptedException aborted) {
            throw aborted
        } catch (SecurityException rejected) {
            throw rejected
        } catch (NoSuchMethodError missing) {
            script.echo("${step}: WARNING: ${what}: a plugin is not installed (${missing.message}); " +
                'the build result is unchanged')
        } catch (Exception problem) {
            script.echo("${step}: WARNING: ${what}: ${problem.message}; the build result is unchanged")
        }
    }
}
