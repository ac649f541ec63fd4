import groovy.json.JsonSlurperClassic
import org.junit.AfterClass
import org.junit.Assume
import org.junit.BeforeClass
import org.junit.Test

/**
 * Jenkinsfile.example, as a user would commit it, run by the executing harness against the real parts:
 * the installed mlci CLI, an S3 endpoint over HTTP (the store), the Docker daemon, and a registry that
 * requires a login. Only Jenkins itself is the harness (none can be installed here): its `input`,
 * `withCredentials`, `lock` and stage semantics are modelled, every `sh` runs for real.
 *
 * Three builds of Jenkinsfile.example: the promotion approved by a member of the approvers group,
 * refused to a user who is not one (then nobody answers: the timeout aborts), and aborted by an approver;
 * and one of the one-line `mlciPipeline(...)` Jenkinsfile of docs/jenkins.md, approved. Each of these
 * trains, validates, evaluates, publishes to S3, builds, verifies and pushes the image; only the
 * approved ones move the alias. A pull-request build of the example trains and reports only.
 */
class EndToEndTest {
    static E2eServices services

    StepFixture f
    String bucket
    String repository

    @BeforeClass
    static void startServices() {
        List<String> missing = E2eServices.missing()
        Assume.assumeTrue("end-to-end tests need ${missing.join(', ')}".toString(), missing.isEmpty())
        services = new E2eServices().start()
    }

    @AfterClass
    static void stopServices() { services?.stop() }

    /** A workspace holding the breast-cancer example as a model repository: Jenkinsfile, mlci.yaml, code, data. */
    void checkout() {
        f = new StepFixture()
        File ws = f.h.workspace
        File example = new File(StepFixture.ROOT, 'examples/breast-cancer')
        Process data = [E2eServices.python(), new File(StepFixture.ROOT, 'examples/make_data.py').path, 'breast-cancer'].execute()
        data.waitForProcessOutput(System.out, System.err)
        assert data.exitValue() == 0
        ['features.py', 'data/train.csv', 'data/test.csv', 'tests/test_features.py'].each { String path ->
            File target = new File(ws, path)
            target.parentFile.mkdirs()
            target.bytes = new File(example, path).bytes
        }
        new File(ws, 'Jenkinsfile').text = new File(StepFixture.ROOT, 'Jenkinsfile.example').text
        bucket = services.bucket()
        repository = "${services.registryHost}/ml/breast-cancer-${bucket.substring(bucket.length() - 8)}"
        new File(ws, 'mlci.yaml').text = new File(example, 'mlci.yaml').text
            .replace('n_estimators: 200', 'n_estimators: 20')
            .replace('store: {uri: .mlci/store}', "store: {uri: 's3://${bucket}/models'}") + """
image:
  repository: ${repository}
  base: ${E2eServices.BASE_IMAGE}
  workers: 1
  verify: {load: {seconds: 1, concurrency: 2, min_rps: 1, max_p99_ms: 20000}}
"""
        // The agent: mlci installed on its PATH, and the S3 endpoint in its environment (as for MinIO/Ceph).
        f.h.globalEnv.PATH = "${E2eServices.binDir()}:${System.getenv('PATH')}".toString()
        f.h.globalEnv.AWS_ENDPOINT_URL = services.s3Url
        f.h.globalEnv.AWS_DEFAULT_REGION = 'us-east-1'
        f.h.globalEnv.DOCKER_CONFIG = new File(f.dir, 'docker-config').path
        f.h.credentials['mlci-s3'] = [username: 'AKIA-E2E-SENTINEL', password: "s3-SENTINEL-${UUID.randomUUID()}".toString()]
        f.h.credentials['mlci-registry'] = [username: E2eServices.REGISTRY_USER, password: services.registryPassword]
        f.h.groups['alice'] = ['ml-leads']
        f.h.groups['bob'] = ['ml-leads']
        f.h.groups['mallory'] = ['data-eng']
    }

    void cleanupAfter() {
        if (repository) {
            E2eServices.removeImages(repository)
        }
        f?.cleanup()
    }

    /** The real CLI, outside the build, with the store's keys: what an operator would run to look. */
    Object mlci(List<String> words) {
        ProcessBuilder builder = new ProcessBuilder(["${E2eServices.binDir()}/mlci".toString()] + words + ['--json'])
        builder.directory(f.h.workspace)
        builder.environment().putAll([AWS_ENDPOINT_URL: services.s3Url, AWS_DEFAULT_REGION: 'us-east-1',
            AWS_ACCESS_KEY_ID: 'operator', AWS_SECRET_ACCESS_KEY: 'operator'])
        Process p = builder.start()
        StringBuffer out = new StringBuffer()
        StringBuffer err = new StringBuffer()
        p.waitForProcessOutput(out, err)
        assert p.exitValue() == 0: "mlci ${words.join(' ')}: ${err}"
        return new JsonSlurperClassic().parseText(out.toString())
    }

    /** What every build must have done before the promotion: version 1 in S3, its image verified and in the registry. */
    void assertPublishedAndShipped(List<String> skipped = []) {
        assert f.h.callsOf('stage-skipped')*.stage == skipped: 'every other stage ran on the default branch'
        Map version = (Map) mlci(['registry', 'show', 'breast-cancer@1'])
        assert version.version == 1 && version.blessed == true
        assert version.build.url == f.h.globalEnv.BUILD_URL
        Map image = version.images[0]
        assert image.repository == repository
        Map tags = services.registryGet("/v2/ml/${repository.tokenize('/')[-1]}/tags/list")
        assert tags.status == 200 && tags.json.tags.containsAll(image.tags)
        Map manifest = services.registryGet("/v2/ml/${repository.tokenize('/')[-1]}/manifests/${image.tags[0]}",
            'application/vnd.docker.distribution.manifest.v2+json')
        assert manifest.status == 200 && manifest.digest == image.digest
        ['mlciSetup', 'mlciCheck', 'mlciValidate', 'mlciTrain', 'mlciEvaluate', 'mlciPublish', 'mlciReport'].each {
            assert f.h.callsOf(it): "${it} was not called"
        }
        assert f.h.callsOf('mlciImage')*.args*.getAt(0)*.action == ['build', 'verify', 'push']
        assert new File(f.h.workspace, '.mlci/jenkins/report/report.html').isFile()
    }

    /** No secret in any shell text, the build log, or any file the build left in the workspace or archived. */
    void assertNoSecretLeaked() {
        List<String> secrets = [f.h.credentials['mlci-s3'].password, services.registryPassword]
        f.h.shCalls.each { Map call -> secrets.each { assert !call.script.contains(it): "a secret in the shell text:\n${call.script}" } }
        secrets.each { assert !f.h.log.toString().contains(it): 'a secret in the build log' }
        [f.h.workspace, f.h.artifacts].findAll { it.exists() }.each { File top ->
            top.eachFileRecurse(groovy.io.FileType.FILES) { File file ->
                String text = new String(file.bytes, 'ISO-8859-1')
                secrets.each { assert !text.contains(it): "a secret in ${file}" }
            }
        }
    }

    List<Map> history() { (List<Map>) mlci(['registry', 'history', 'breast-cancer']) }

    @Test
    void anApproverPromotesTheVersionTheBuildPublishedAndTheAuditNamesThem() {
        try {
            checkout()
            f.h.inputAnswers.add(InputAnswer.approve('alice', [REASON: 'beats production; "reviewed" $(by) the team']))

            f.h.runJenkinsfile(new File(f.h.workspace, 'Jenkinsfile').path)

            assert f.h.result == 'SUCCESS': "${f.h.errors}\n${f.h.log}"
            assertPublishedAndShipped()
            assert ((Map) mlci(['registry', 'show', 'breast-cancer@production'])).version == 1
            List<Map> events = history()
            assert events*.event == ['register', 'image', 'promote']: 'the audit log tells the whole story, in order'
            Map image = ((Map) mlci(['registry', 'show', 'breast-cancer@1'])).images[0]
            assert events[1].digest == image.digest && events[1].version == 1
            Map promoted = events[2]
            assert promoted.actor == 'alice' && promoted.alias == 'production' && promoted.version == 1
            assert promoted.reason == 'beats production; "reviewed" $(by) the team'
            assert promoted.build.url == f.h.globalEnv.BUILD_URL
            assert f.h.callsOf('mlciPromote')[0].stage == 'Promote'
            assert f.h.callsOf('input')[0].node == null: 'nobody holds an executor while the approvers decide'
            assert f.h.shCalls.find { it.script.contains('promote') }.locks == ['mlci-promote-breast-cancer']
            assertNoSecretLeaked()
        } finally {
            cleanupAfter()
        }
    }

    /** The one-line pipeline of docs/jenkins.md, on the same real parts: the same outcome as the example. */
    @Test
    void theOneLineMlciPipelineShipsAndPromotesTheSameWay() {
        try {
            checkout()
            new File(f.h.workspace, 'Jenkinsfile').text = """@Library('mlci') _
mlciPipeline(config: 'mlci.yaml', agentLabel: 'linux', approvers: ['ml-leads'],
             storeCredentialsId: 'mlci-s3', registryCredentialsId: 'mlci-registry')
"""
            f.h.inputAnswers.add(InputAnswer.approve('bob', [REASON: 'nightly candidate']))

            f.h.runJenkinsfile(new File(f.h.workspace, 'Jenkinsfile').path)

            assert f.h.result == 'SUCCESS': "${f.h.errors}\n${f.h.log}"
            assertPublishedAndShipped(['Build / Train (GPU)', 'Build / Deploy staging', 'Deploy production'])
            Map promoted = history().find { it.event == 'promote' }
            assert promoted.actor == 'bob' && promoted.reason == 'nightly candidate' && promoted.version == 1
            assert ((Map) mlci(['registry', 'show', 'breast-cancer@production'])).version == 1
            assertNoSecretLeaked()
        } finally {
            cleanupAfter()
        }
    }

    /**
     * A pull-request build of the same Jenkinsfile: checks, trains and reports, and posts the report's
     * summary as the PR's comment (a GitHub API stand-in); the next build edits that comment. It
     * publishes, ships and asks nothing.
     */
    @Test
    void aPullRequestBuildTrainsReportsAndCommentsButPublishesNothing() {
        try {
            checkout()
            f.h.globalEnv.BRANCH_NAME = 'PR-7'
            f.h.globalEnv.CHANGE_ID = '7'
            String token = "github-SENTINEL-${UUID.randomUUID()}"
            f.h.credentials['github-token'] = [secret: token]
            Map github = services.github(token)
            File jenkinsfile = new File(f.h.workspace, 'Jenkinsfile')
            jenkinsfile.text = jenkinsfile.text.replace("always { mlciReport(storeCredentialsId: 'mlci-s3') }",
                "always { mlciReport(storeCredentialsId: 'mlci-s3', comment: [forge: 'github', repo: 'acme/breast-cancer', " +
                "credentialsId: 'github-token', url: '${github.url}']) }")
            assert jenkinsfile.text.contains("credentialsId: 'github-token'")

            f.h.runJenkinsfile(jenkinsfile.path)

            assert f.h.result == 'SUCCESS': "${f.h.errors}\n${f.h.log}"
            assert f.h.callsOf('stage-skipped')*.stage == ['Build / Publish', 'Build / Image', 'Promote']
            assert f.h.callsOf('input').isEmpty() && f.h.callsOf('mlciImage').isEmpty()
            assert f.h.callsOf('mlciEvaluate') && new File(f.h.workspace, '.mlci/jenkins/report/report.html').isFile()
            assert mlci(['registry', 'list']) == []
            assert services.registryGet("/v2/ml/${repository.tokenize('/')[-1]}/tags/list").status == 404
            String summary = new File(f.h.workspace, '.mlci/jenkins/report/summary.md').getText('UTF-8')
            assert github.comments.values() as List == [summary] && summary.contains('<!-- mlci-report:breast-cancer -->')
            assert github.requests*.method == ['GET', 'POST']

            f.h.runJenkinsfile(jenkinsfile.path)  // the next build of the PR edits the same comment

            assert github.comments.size() == 1 && github.requests*.method == ['GET', 'POST', 'GET', 'PATCH']
            assertNoSecretLeaked()
            [f.h.shCalls*.script, [f.h.log.toString()]].flatten().each { assert !it.contains(token) }
        } finally {
            cleanupAfter()
        }
    }

    @Test
    void aUserWhoIsNotAnApproverIsRefusedAndNothingIsPromoted() {
        try {
            checkout()
            f.h.inputAnswers.add(InputAnswer.approve('mallory', [REASON: 'ship it']))

            f.h.runJenkinsfile(new File(f.h.workspace, 'Jenkinsfile').path)

            assert f.h.result == 'ABORTED': "${f.h.errors}\n${f.h.log}"
            assert f.h.log.contains('mallory: You need to be ml-leads to submit this.')
            assert f.h.log.contains('Timeout has been exceeded (3 DAYS)')
            assertPublishedAndShipped()
            assert ((Map) mlci(['registry', 'show', 'breast-cancer@1'])).aliases == []
            assert history()*.event == ['register', 'image']: 'registered and shipped, never promoted'
            assert !f.h.shCalls.any { it.script.contains(' promote ') }
            assertNoSecretLeaked()
        } finally {
            cleanupAfter()
        }
    }

    @Test
    void anApproverWhoAbortsLeavesProductionUnchanged() {
        try {
            checkout()
            f.h.inputAnswers.add(InputAnswer.abort('bob'))

            f.h.runJenkinsfile(new File(f.h.workspace, 'Jenkinsfile').path)

            assert f.h.result == 'ABORTED': "${f.h.errors}\n${f.h.log}"
            assert f.h.log.contains('Rejected by bob')
            assert f.h.log.contains('mlciPromote: breast-cancer version 1 to production was not approved')
            assertPublishedAndShipped()
            assert ((Map) mlci(['registry', 'show', 'breast-cancer@1'])).aliases == []
            assert history()*.event == ['register', 'image']: 'registered and shipped, never promoted'
            assertNoSecretLeaked()
        } finally {
            cleanupAfter()
        }
    }
}
