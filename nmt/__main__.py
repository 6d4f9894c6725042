from nmt.commands.main import main
import sys

sys.exit(main())
