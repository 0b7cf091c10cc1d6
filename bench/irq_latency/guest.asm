; bench/irq_latency guest: real mode, CS = DS = SS = 0 (the client,
; irq_latency.c, fills the IVT from the table below and writes the count at
; COUNT). Each vCPU moves its LAPIC to 0xa0000 (IA32_APIC_BASE) and reaches
; it through ES = 0xa000. Ports: 0xf0 start, 0xf1 end, 0xf2 vCPU 1 done,
; 0xf3 irqfd handler entered, 0xf4 ready for the next irqfd interrupt.
bits 16
org 0x1000

%define FLAG_READY 0x9000
%define FLAG_GOT   0x9004
%define COUNT      0x9008

table:
  dd bsp_ipi        ; entry of vCPU 0, IPI ping-pong
  dd ap_ipi         ; entry of vCPU 1, IPI ping-pong
  dd irqfd_main     ; entry of vCPU 0, irqfd latency
  dd h_pong         ; vector 0x41 (vCPU 0)
  dd h_ping         ; vector 0x40 (vCPU 1)
  dd h_quit         ; vector 0x42 (vCPU 1)
  dd h_irqfd        ; vector 0x50 (MSI from the irqfd's GSI)

; SDM Vol. 3A, 10.4.4-10.4.5 and 10.9: base 0xa0000, enabled, SVR bit 8.
lapic_on:
  mov ecx, 0x1b
  rdmsr
  and eax, 0xfff
  or eax, 0xa0000
  wrmsr
  mov ax, 0xa000
  mov es, ax
  mov dword [es:0xf0], 0x1ff
  mov dword [es:0x80], 0             ; TPR
  ret

; vCPU 0: COUNT round trips, each a fixed IPI 0x40 to APIC 1 answered by
; IPI 0x41; HLT between (as an idle kernel waits).
bsp_ipi:
  call lapic_on
.wait_ap:
  pause
  cmp dword [FLAG_READY], 1
  jne .wait_ap
  out 0xf0, al
  mov ecx, [COUNT]
.loop:
  cli
  mov dword [FLAG_GOT], 0
  mov dword [es:0x310], 1 << 24
  mov dword [es:0x300], 0x40         ; fixed, physical, edge
.wait:
  sti
  hlt
  cli
  cmp dword [FLAG_GOT], 0
  je .wait
  dec ecx
  jnz .loop
  mov dword [es:0x310], 1 << 24
  mov dword [es:0x300], 0x42         ; vCPU 1: leave
  out 0xf1, al
.halt:
  hlt
  jmp .halt

ap_ipi:
  call lapic_on
  mov dword [FLAG_READY], 1
.idle:
  sti
  hlt
  jmp .idle

h_ping:
  mov dword [es:0x310], 0
  mov dword [es:0x300], 0x41
  mov dword [es:0xb0], 0             ; EOI
  iret

h_pong:
  mov dword [FLAG_GOT], 1
  mov dword [es:0xb0], 0
  iret

h_quit:
  mov dword [es:0xb0], 0
  out 0xf2, al
.halt:
  cli
  hlt
  jmp .halt

; vCPU 0: the 8259s masked, idle in HLT; the client's irqfd raises a GSI
; routed as an MSI (fixed, APIC 0, vector 0x50).
irqfd_main:
  call lapic_on
  mov al, 0xff
  out 0x21, al
  out 0xa1, al
  out 0xf4, al
.idle:
  sti
  hlt
  jmp .idle

h_irqfd:
  out 0xf3, al
  mov dword [es:0xb0], 0
  out 0xf4, al
  iret
