from shoptools.shop.cli import main

raise SystemExit(main())
