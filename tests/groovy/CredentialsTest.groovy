import org.junit.After
import org.junit.Test

/** Secrets reach the CLI only through withCredentials bindings, never through shell text or the log. */
class CredentialsTest {
    static final String S3_KEY = 'AKIA-SENTINEL-7f3a'
    static final String S3_SECRET = 'S3-SECRET-SENTINEL-\'$(touch PWNED)'
    static final String REGISTRY_PASSWORD = 'REGISTRY-SENTINEL-9b1e"`id`'

    StepFixture f = new StepFixture()

    @After
    void cleanup() { f.cleanup() }

    void bindSentinels() {
        f.h.credentials['mlci-s3'] = [username: S3_KEY, password: S3_SECRET]
        f.h.credentials['mlci-registry'] = [username: 'robot$ml', password: REGISTRY_PASSWORD]
    }

    void assertNoSecretInShellTextOrLog() {
        [S3_SECRET, REGISTRY_PASSWORD].each { String secret ->
            f.h.shCalls.each { assert !it.script.contains(secret): "a secret is in the shell text:\n${it.script}" }
            assert !f.h.log.toString().contains(secret)
        }
        assert f.h.secrets.containsAll([S3_SECRET]) || f.h.secrets.containsAll([REGISTRY_PASSWORD])
    }

    @Test
    void publishGetsTheStoreKeysAsEnvironmentOnly() {
        bindSentinels()
        f.h.runStep('mlciPublish', [storeCredentialsId: 'mlci-s3', endpoint: 'http://127.0.0.1:9000'])
        assert f.h.result == 'SUCCESS'
        Map call = f.mlciCalls()[0]
        assert call.env.AWS_ACCESS_KEY_ID == S3_KEY
        assert call.env.AWS_SECRET_ACCESS_KEY == S3_SECRET
        assert call.env.AWS_ENDPOINT_URL == 'http://127.0.0.1:9000'
        assert call.argv == ['publish', '--config=mlci.yaml', '--json']
        assertNoSecretInShellTextOrLog()
        assert f.h.callsOf('withCredentials')[0].args[0] == [[binding: 'usernamePassword', credentialsId: 'mlci-s3',
            usernameVariable: 'AWS_ACCESS_KEY_ID', passwordVariable: 'AWS_SECRET_ACCESS_KEY']]
    }

    @Test
    void imagePushGetsTheRegistryLoginAsEnvironmentOnly() {
        bindSentinels()
        f.h.runStep('mlciImage', [action: 'push', registryCredentialsId: 'mlci-registry', storeCredentialsId: 'mlci-s3',
                                  tags: ['nightly', 'git-0123abc']])
        Map call = f.mlciCalls()[0]
        assert call.argv == ['image', 'push', '--config=mlci.yaml', '--tag=nightly', '--tag=git-0123abc', '--json']
        assert call.env.MLCI_REGISTRY_USER == 'robot$ml'
        assert call.env.MLCI_REGISTRY_PASSWORD == REGISTRY_PASSWORD
        assertNoSecretInShellTextOrLog()
    }

    @Test
    void secretsAreGoneOutsideTheBinding() {
        bindSentinels()
        f.h.runStep('mlciPublish', [storeCredentialsId: 'mlci-s3'])
        f.h.runStep('mlciTrain')
        assert !f.mlciCalls()[1].env.containsKey('AWS_SECRET_ACCESS_KEY')
    }

    @Test
    void everyStepThatReadsTheStoreBindsItTheSameWay() {
        bindSentinels()
        f.h.inputAnswers.add(InputAnswer.approve('alice'))
        f.h.runStep('mlciSetup', [storeCredentialsId: 'mlci-s3', doctorChecks: ['s3']])
        f.h.runStep('mlciValidate', [storeCredentialsId: 'mlci-s3'])
        f.h.runStep('mlciTrain', [storeCredentialsId: 'mlci-s3'])  // data in object storage
        f.h.runStep('mlciEvaluate', [storeCredentialsId: 'mlci-s3'])
        f.h.runStep('mlciDeploy', [environment: 'staging', storeCredentialsId: 'mlci-s3', registryCredentialsId: 'mlci-registry'])
        f.h.runStep('mlciPromote', [model: 'm', version: 1, approvers: 'alice', storeCredentialsId: 'mlci-s3', checkout: false, setup: null])
        f.h.runStep('mlciReport', [storeCredentialsId: 'mlci-s3'])
        f.h.runStep('mlciSweep', [storeCredentialsId: 'mlci-s3', checkout: false, setup: null, shards: 1])
        assert f.h.result == 'SUCCESS': f.h.errors
        List<Map> calls = f.mlciCalls()
        assert calls*.argv*.getAt(0) == ['doctor', 'validate', 'train', 'evaluate', 'deploy', 'promote', 'report', 'sweep', 'sweep']
        assert calls[0].argv == ['doctor', '--s3', '--json']
        assert calls.every { it.env.AWS_SECRET_ACCESS_KEY == S3_SECRET }
        assertNoSecretInShellTextOrLog()
    }

    @Test
    void anUnknownCredentialsIdFailsBeforeTheCliRuns() {
        f.h.runStep('mlciPublish', [storeCredentialsId: 'nope'])
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == "Could not find credentials entry with ID 'nope'"
        assert f.mlciCalls().isEmpty()
    }

    @Test
    void theLibraryNeverInterpolatesASecretVariableIntoGroovyStrings() {
        // A Groovy-interpolated "$AWS_SECRET_ACCESS_KEY" would put the secret into the shell text (and the log).
        (new File(StepFixture.ROOT, 'vars').listFiles() + new File(StepFixture.ROOT, 'src/org/mlci').listFiles()).each { File file ->
            String text = file.text
            ['AWS_SECRET_ACCESS_KEY', 'MLCI_REGISTRY_PASSWORD', 'AWS_ACCESS_KEY_ID'].each { String variable ->
                assert !text.contains("\${${variable}}") && !text.contains("env.${variable}"): "${file.name} reads ${variable} in Groovy"
            }
        }
    }
}
