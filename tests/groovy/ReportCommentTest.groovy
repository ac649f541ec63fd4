import org.junit.After
import org.junit.Before
import org.junit.Test

/** mlciReport's pull-request comment: only on PR builds, the token only through withCredentials (MLCI_FORGE_TOKEN), never failing. */
class ReportCommentTest {
    static final String TOKEN = 'TOKEN-SENTINEL-\'$(touch PWNED)`id`'
    static final Map COMMENT = [forge: 'gitlab', repo: 'ml/churn-model', credentialsId: 'gitlab-token',
                                url: 'https://gitlab.example']

    StepFixture f = new StepFixture()

    @Before
    void setUp() {
        f.h.credentials['gitlab-token'] = [secret: TOKEN]
        f.h.globalEnv.BRANCH_NAME = 'PR-7'
        f.h.globalEnv.CHANGE_ID = '7'
        f.answer('report', [stdout: [headline: 'roc_auc 0.99: blessed']])
    }

    @After
    void cleanup() { f.cleanup() }

    void assertTokenNeverInShellTextOrLog() {
        f.h.shCalls.each { assert !it.script.contains(TOKEN) }
        assert !f.h.log.toString().contains(TOKEN)
        assert !new File(f.dir, 'workspace/PWNED').exists()
    }

    @Test
    void aPullRequestBuildPostsTheSummaryWithTheBoundToken() {
        f.answer('report comment', [stdout: [action: 'updated', id: 1234, forge: 'gitlab']])
        Map out = f.h.runStep('mlciReport', [comment: COMMENT])
        assert f.h.result == 'SUCCESS': f.h.errors
        List<Map> calls = f.mlciCalls()
        assert calls*.argv == [
            ['report', '--config=mlci.yaml', '--output=.mlci/jenkins/report', '--json'],
            ['report', 'comment', '--config=mlci.yaml', '--forge=gitlab', '--repo=ml/churn-model', '--pr=7',
             '--url=https://gitlab.example', '--summary=.mlci/jenkins/report/summary.md', '--json']]
        assert calls[1].env.MLCI_FORGE_TOKEN == TOKEN && !calls[0].env.containsKey('MLCI_FORGE_TOKEN')
        assert out.comment == [action: 'updated', id: 1234, forge: 'gitlab']
        assertTokenNeverInShellTextOrLog()
    }

    @Test
    void aBranchBuildNeverComments() {
        f.h.globalEnv.remove('CHANGE_ID')
        f.h.globalEnv.BRANCH_NAME = 'main'
        Map out = f.h.runStep('mlciReport', [comment: COMMENT])
        assert f.mlciCalls()*.argv*.getAt(1) == ['--config=mlci.yaml']
        assert !out.containsKey('comment')
    }

    @Test
    void aCommentThatCannotBePostedIsAWarningAndTheResultIsUnchanged() {
        f.answer('report comment', [rc: 2, stderr: 'mlci report: error: gitlab refused the token in GITLAB_TOKEN (HTTP 401)'])
        Map out = f.h.runStep('mlciReport', [comment: COMMENT])
        assert f.h.result == 'SUCCESS'
        assert out.written == true && out.comment == [:]
        assert f.h.log.contains('mlciReport: WARNING: the pull-request comment was not posted (exit 2): ' +
            'mlci report: error: gitlab refused the token in GITLAB_TOKEN (HTTP 401); the build result is unchanged')
        assertTokenNeverInShellTextOrLog()
    }

    @Test
    void aWrongForgeOrAMissingCredentialIsAWarningNamingIt() {
        // the CLI checks the forge (this is the message its argument parser gives)
        f.answer('report comment', [rc: 2, stderr: "mlci report comment: error: argument --forge: invalid choice: 'gitea' " +
            "(choose from 'github', 'gitlab', 'bitbucket-server')"])
        f.h.runStep('mlciReport', [comment: COMMENT + [forge: 'gitea']])
        assert f.h.result == 'SUCCESS'
        assert f.mlciCalls()[1].argv.contains('--forge=gitea')
        assert f.h.log.contains("mlciReport: WARNING: the pull-request comment was not posted (exit 2): mlci report comment: " +
            "error: argument --forge: invalid choice: 'gitea' (choose from 'github', 'gitlab', 'bitbucket-server')")
        f.h.runStep('mlciReport', [comment: COMMENT + [credentialsId: 'nope']])
        assert f.h.log.contains("the pull-request comment was not posted: Could not find credentials entry with ID 'nope'")
        f.h.runStep('mlciReport', [comment: [forge: 'github']])
        assert f.h.log.contains('the pull-request comment was not posted: mlciReport comment: missing required argument(s) repo, credentialsId')
        assert f.h.result == 'SUCCESS'
        assert f.mlciCalls()*.argv*.getAt(1) == ['--config=mlci.yaml', 'comment', '--config=mlci.yaml', '--config=mlci.yaml']
    }

    @Test
    void theRepositoryAndUrlReachTheCliAsOneLiteralArgumentEach() {
        String value = "it's \$(touch PWNED_subst) `touch PWNED_tick`; touch PWNED_semi\nx"
        f.h.runStep('mlciReport', [comment: COMMENT + [repo: value, url: value]])
        List<String> argv = f.mlciCalls()[1].argv
        assert argv.contains("--repo=${value}".toString()) && argv.contains("--url=${value}".toString())
        List pwned = []
        f.dir.eachFileRecurse { if (it.name.startsWith('PWNED')) { pwned << it } }
        assert !pwned
    }
}
