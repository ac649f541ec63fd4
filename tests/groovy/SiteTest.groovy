import org.junit.After
import org.junit.Test

/** mlciSite: the catalog is written by `mlci site` with the store bound and published; it never fails a build. */
class SiteTest {
    StepFixture f = new StepFixture()

    @After
    void cleanup() { f.cleanup() }

    @Test
    void theCatalogIsWrittenWithTheStoreBoundAndPublished() {
        f.h.credentials['mlci-s3'] = [username: 'AKIA-ID', password: 'S3CRET-KEY']
        f.answer('site', [stdout: [models: 2, versions: 7, failures: []],
                          files: ['.mlci/jenkins/site/index.html': '<html/>']])
        Map out = f.h.runStep('mlciSite', [storeCredentialsId: 'mlci-s3', endpoint: 'http://127.0.0.1:9000',
                                           store: "s3://ml/models'; touch PWNED"])
        assert f.h.result == 'SUCCESS': f.h.errors
        List<Map> calls = f.mlciCalls()
        assert calls*.argv == [['site', '--config=mlci.yaml', '--output=.mlci/jenkins/site',
                                "--store=s3://ml/models'; touch PWNED", '--json']]
        assert calls[0].env.AWS_SECRET_ACCESS_KEY == 'S3CRET-KEY' && calls[0].env.AWS_ENDPOINT_URL == 'http://127.0.0.1:9000'
        Map target = f.h.callsOf('publishHTML')[0].args[0].target
        assert target.reportDir == '.mlci/jenkins/site' && target.reportFiles == 'index.html' && target.reportName == 'mlci models'
        assert out.written == true && out.models == 2
        assert !new File(f.dir, 'workspace/PWNED').exists()
        assert !f.h.log.toString().contains('S3CRET-KEY')
    }

    @Test
    void aStoreThatCannotBeReadIsAWarningAndNothingIsPublished() {
        f.answer('site', [rc: 3, stderr: 'mlci site: error: S3 endpoint http://127.0.0.1:9 unreachable after 3 attempts'])
        Map out = f.h.runStep('mlciSite')
        assert f.h.result == 'SUCCESS'
        assert out.written == false && !f.h.callsOf('publishHTML')
        assert f.h.log.contains('mlciSite: WARNING: no model catalog (exit 3)')
    }

    @Test
    void withoutHtmlPublisherTheBuildStillSucceeds() {
        f.h.absentPlugins.add('htmlpublisher')
        Map out = f.h.runStep('mlciSite')
        assert f.h.result == 'SUCCESS' && out.written == true
        assert f.h.log.contains('mlciSite: WARNING: could not publish the model catalog (HTML Publisher): a plugin is not installed')
    }

    @Test
    void anUnknownArgumentFailsTheBuildNamingIt() {
        f.h.runStep('mlciSite', [outptu: 'x'])
        assert f.h.result == 'FAILURE'
        assert f.h.errors.toString().contains('outptu')
    }
}
