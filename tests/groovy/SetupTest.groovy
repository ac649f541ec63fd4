import org.junit.After
import org.junit.Test

/** mlciSetup and its bootstrap script (resources/org/mlci/bootstrap.sh), run for real. */
class SetupTest {
    StepFixture f = new StepFixture()

    @After
    void cleanup() { f.cleanup() }

    File fakeMlci(String name, String version) {
        File bin = new File(f.dir, name)
        bin.parentFile.mkdirs()
        bin.text = "#!/bin/sh\n[ \"\$1\" = --version ] && echo 'mlci ${version}' && exit 0\nexec '${StepFixture.FAKE_BIN}/mlci' \"\$@\"\n"
        bin.setExecutable(true)
        return bin
    }

    @Test
    void theMlciOnThePathIsUsedAndDoctorRuns() {
        f.answer('doctor', [stdout: [checks: [[name: 'docker', passed: true]]]])
        Map out = f.h.runStep('mlciSetup', [doctorChecks: ['docker', 'gpu']])
        assert f.h.result == 'SUCCESS': f.h.log
        assert out.mlci == "${StepFixture.FAKE_BIN}/mlci".toString() && out.version == '0.1.0'
        assert out.doctor == [checks: [[name: 'docker', passed: true]]]
        assert f.onlyArgv() == ['doctor', '--docker', '--gpu', '--json']
        assert f.h.effectiveEnv().MLCI == out.mlci
        assert f.h.shCalls[0].script == 'sh .mlci/jenkins/mlciSetup/bootstrap.sh'
        assert new File(f.h.workspace, '.mlci/jenkins/mlciSetup/bootstrap.sh').text ==
            new File(StepFixture.ROOT, 'resources/org/mlci/bootstrap.sh').text
    }

    @Test
    void theArgumentsTravelAsEnvironmentNeverAsShellText() {
        String odd = "x'; touch PWNED; \$(id)"
        f.h.runStep('mlciSetup', [mlci: odd, version: odd, requirement: odd, indexUrl: odd, findLinks: odd, venv: odd,
                                  noIndex: true, systemSitePackages: true])
        Map sh = f.h.shCalls[0]
        assert sh.script == 'sh .mlci/jenkins/mlciSetup/bootstrap.sh'
        ['MLCI_BIN', 'MLCI_VERSION', 'MLCI_REQUIREMENT', 'MLCI_INDEX_URL', 'MLCI_FIND_LINKS', 'MLCI_VENV'].each {
            assert sh.env[it] == odd
        }
        assert sh.env.MLCI_NO_INDEX == '1' && sh.env.MLCI_SYSTEM_SITE_PACKAGES == '1'
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == "mlciSetup: bad input: mlci setup: error: MLCI_BIN=${odd} is not an mlci executable of version ${odd}"
        assert !new File(f.h.workspace, 'PWNED').exists()
    }

    @Test
    void aGivenExecutableOfTheWantedVersionIsUsed() {
        File mine = fakeMlci('opt/mlci/bin/mlci', '1.2.3')
        Map out = f.h.runStep('mlciSetup', [mlci: mine.path, version: '1.2.3', doctor: false])
        assert out == [mlci: mine.path, version: '1.2.3']
        assert f.mlciCalls().isEmpty()
    }

    @Test
    void aPinnedVersionSkipsAnotherVersionOnThePathAndUsesTheVenvThatHasIt() {
        File venvMlci = fakeMlci('workspace/.mlci/venv/bin/mlci', '2.0.0')
        new File(f.h.workspace, '.mlci/venv/bin/python').with { it.text = '#!/bin/sh\n'; it.setExecutable(true) }
        Map out = f.h.runStep('mlciSetup', [version: '2.0.0', doctor: false])
        assert f.h.result == 'SUCCESS': f.h.log
        assert out == [mlci: venvMlci.canonicalPath, version: '2.0.0']
    }

    /** A real install: a venv, pip installing this checkout's wheel from a wheelhouse with no index. */
    @Test
    void installsIntoAVenvFromAWheelhouseWithNoIndex() {
        File wheels = new File(f.dir, 'wheels')
        Process build = ['python3', '-m', 'pip', 'wheel', '--quiet', '--no-deps', '--no-build-isolation', '-w', wheels.path,
                         new File(StepFixture.ROOT, 'python').path].execute()
        build.waitForProcessOutput(System.out, System.err)
        assert build.exitValue() == 0
        f.h.globalEnv.PATH = '/usr/local/bin:/usr/bin:/bin'
        if (new File('/root/.pyenv/shims').exists()) {
            f.h.globalEnv.PATH = "/root/.pyenv/shims:${f.h.globalEnv.PATH}".toString()
        }
        Map out = f.h.runStep('mlciSetup', [requirement: 'mlci', findLinks: wheels.path, noIndex: true, systemSitePackages: true,
                                            doctor: false])
        assert f.h.result == 'SUCCESS': f.h.log
        assert out.mlci == new File(f.h.workspace, '.mlci/venv/bin/mlci').canonicalPath
        assert out.version == (new File(StepFixture.ROOT, 'python/mlci/__init__.py').text =~ /__version__ = "([^"]+)"/)[0][1]
        assert f.h.log.contains("mlci setup: installing mlci into .mlci/venv")
    }
}
