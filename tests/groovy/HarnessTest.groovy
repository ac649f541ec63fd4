import org.junit.After
import org.junit.Test

/** The harness keeps Jenkins' semantics where the steps depend on them (so the step tests mean something). */
class HarnessTest {
    StepFixture f = new StepFixture()

    @After
    void cleanup() { f.cleanup() }

    Script script() { f.h.newScript(f.h.compiled(new File(f.dir, 'probe.groovy').with { it.text = ''; it })) }

    @Test
    void shRunsForRealWithTheEnvironmentAndAFailureFailsTheBuild() {
        Script s = script()
        f.h.runBuild {
            s.withEnv(['GREETING=hello world']) {
                assert s.sh(script: 'printf %s "$GREETING" > out.txt; cat out.txt', returnStdout: true).trim() == 'hello world'
            }
            s.sh('exit 3')
        }
        assert new File(f.h.workspace, 'out.txt').text == 'hello world'
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == 'script returned exit code 3'
        assert f.h.log.contains('+ exit 3')
    }

    @Test
    void theResultOnlyGetsWorse() {
        f.h.currentBuild.result = 'UNSTABLE'
        f.h.currentBuild.result = 'SUCCESS'
        assert f.h.result == 'UNSTABLE'
        f.h.currentBuild.result = 'FAILURE'
        assert f.h.result == 'FAILURE'
    }

    @Test
    void junitWithFailuresMarksUnstableAndMissingReportsFail() {
        new File(f.h.workspace, 'r.xml').text = '<testsuite><testcase name="a"/><testcase name="b"><failure/></testcase></testsuite>'
        Script s = script()
        Map summary = f.h.runBuild { s.junit('r.xml') }
        assert summary == [totalCount: 2, failCount: 1, files: [new File(f.h.workspace, 'r.xml').path]]
        assert f.h.result == 'UNSTABLE'
        f.h.runBuild { s.junit(testResults: 'missing/*.xml') }
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.startsWith('No test report files were found')
    }

    @Test
    void archiveArtifactsFailsOnNoMatchUnlessAllowed() {
        Script s = script()
        f.h.runBuild { s.archiveArtifacts(artifacts: 'nothing/**', allowEmptyArchive: true) }
        assert f.h.result == 'SUCCESS'
        f.h.runBuild { s.archiveArtifacts('nothing/**') }
        assert f.h.errorMessage == 'No artifacts found that match the file pattern "nothing/**"'
    }

    @Test
    void inputReturnsWhatJenkinsReturns() {
        Script s = script()
        f.h.inputAnswers.addAll([InputAnswer.approve('a', [X: '1']), InputAnswer.approve('b'), InputAnswer.approve('c')])
        assert s.input(message: 'm', parameters: [s.string(name: 'X', defaultValue: '0')]) == '1'
        assert s.input(message: 'm') == null
        assert s.input(message: 'm', submitterParameter: 'WHO', parameters: [s.string(name: 'X', defaultValue: '0')]) == [X: '0', WHO: 'c']
    }

    @Test
    void aSubmitterParameterAloneIsUnwrappedToTheUser() {
        // InputStepExecution.proceed: a one-entry result map is unwrapped, the submitterParameter included
        Script s = script()
        f.h.inputAnswers.add(InputAnswer.approve('alice'))
        assert s.input(message: 'm', submitterParameter: 'WHO') == 'alice'
    }

    @Test
    void anAdministratorMayApproveAnyInputAndJobCancelMayAbortIt() {
        Script s = script()
        f.h.admins.add('root')
        f.h.inputAnswers.addAll([InputAnswer.approve('mallory'), InputAnswer.approve('root', [R: 'x'])])
        assert s.input(message: 'm', submitter: 'alice', submitterParameter: 'WHO', parameters: [s.string(name: 'R')]) ==
            [R: 'x', WHO: 'root']
        assert f.h.log.contains('mallory: You need to be alice to submit this.')
        f.h.jobCancel.add('ops')
        f.h.inputAnswers.addAll([InputAnswer.abort('mallory'), InputAnswer.approve('ops'), InputAnswer.abort('ops')])
        f.h.runBuild { s.input(message: 'm', submitter: 'alice') }
        assert f.h.log.contains("mallory: You need to be 'alice' (or have Job/Cancel permissions) to cancel this.")
        assert f.h.log.contains('ops: You need to be alice to submit this.')
        assert f.h.result == 'ABORTED'
        assert f.h.errorMessage == "ABORTED: input 'null' rejected by ops"
    }

    @Test
    void anUnknownStepIsAnErrorLikeJenkinsNoSuchDslMethod() {
        Script s = script()
        f.h.runBuild { s.noSuchStep(1) }
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.contains('No signature of method') && f.h.errorMessage.contains('noSuchStep')
    }

    @Test
    void stashAndUnstashCopyFiles() {
        Script s = script()
        new File(f.h.workspace, '.mlci/runs/r1').mkdirs()
        new File(f.h.workspace, '.mlci/runs/r1/run.json').text = '{"a": 1}'
        f.h.runBuild {
            s.stash(name: 'runs', includes: '.mlci/runs/**')
            new File(f.h.workspace, '.mlci').deleteDir()
            s.unstash('runs')
        }
        assert new File(f.h.workspace, '.mlci/runs/r1/run.json').text == '{"a": 1}'
    }

    @Test
    void parallelBranchesThatStashAtOnceKeepEveryStash() {
        // Jenkins keeps each stash whatever runs beside it; branches stashing at the same moment
        // once lost one in the harness (a plain map written from several threads)
        Script s = script()
        new File(f.h.workspace, 'out').mkdirs()
        new File(f.h.workspace, 'out/x.txt').text = 'x'
        int n = 200
        java.util.concurrent.CyclicBarrier together = new java.util.concurrent.CyclicBarrier(n)
        Map branches = (1..n).collectEntries { int i ->
            [("b${i}".toString()): { together.await(); s.stash(name: "s${i}", includes: 'out/**') }]
        }
        f.h.runBuild { s.parallel(branches) }
        assert f.h.result == 'SUCCESS': f.h.log
        assert f.h.stashes.keySet() == (1..n).collect { "s${it}".toString() } as Set
    }

    @Test
    void aStepOfAnAbsentPluginThrowsNoSuchMethodError() {
        f.h.absentPlugins.add('htmlpublisher')
        Script s = script()
        Throwable thrown = null
        f.h.runBuild {
            try {
                s.publishHTML(target: [reportDir: '.', reportFiles: 'x.html', allowMissing: true])
            } catch (Exception ignored) {
                assert false: 'an Exception handler must not catch it'
            } catch (NoSuchMethodError e) {
                thrown = e
            }
        }
        assert thrown.message.startsWith("No such DSL method 'publishHTML' found among steps [")
        assert !thrown.message.contains('publishHTML,')
    }

    @Test
    void parallelBranchesRunAtTheSameTime() {
        Script s = script()
        java.util.concurrent.CountDownLatch bStarted = new java.util.concurrent.CountDownLatch(1)
        List order = Collections.synchronizedList([])
        f.h.runBuild {
            s.parallel(a: {
                assert bStarted.await(10, java.util.concurrent.TimeUnit.SECONDS): 'b never ran while a waited'
                order.add('a')
            }, b: {
                bStarted.countDown()
                order.add('b')
            })
        }
        assert f.h.result == 'SUCCESS': "${f.h.errors}"
        assert order == ['b', 'a']
    }

    @Test
    void eachNodeGetsAWorkspaceOfItsAgentAndNestingGetsAt2() {
        Script s = script()
        f.h.agents.gpu = 'gpu-1'
        new File(f.h.workspace, 'mlci.yaml').text = 'name: m\n'
        List seen = []
        f.h.runBuild {
            s.node('linux') {
                seen.add(s.pwd())
                s.node('linux') { seen.add(s.pwd()) }
                s.node('gpu') {
                    seen.add(s.pwd())
                    s.checkout(s.scm)
                    assert s.fileExists('mlci.yaml')
                    s.writeFile(file: 'here.txt', text: 'x')
                }
                assert !s.fileExists('here.txt')
            }
        }
        assert f.h.result == 'SUCCESS': "${f.h.errors}"
        String gpuWorkspace = new File(f.h.agentRoot('gpu-1'), 'workspace/job').path
        assert seen == [f.h.workspace.path, "${f.h.workspace.path}@2".toString(), gpuWorkspace]
    }

    @Test
    void aPathOnAnotherAgentIsNotFound() {
        Script s = script()
        f.h.agents.gpu = 'gpu-1'
        String gpuFile = null
        f.h.runBuild {
            s.node('gpu') {
                s.sh('echo tool > tool.sh')
                gpuFile = "${s.pwd()}/tool.sh"
            }
            s.node('linux') {
                assert s.sh(script: "cat '${gpuFile}'", returnStatus: true) == 127
            }
        }
        assert f.h.log.contains("${gpuFile}: not found (a path on another agent; this is built-in)"): f.h.log
    }
}
